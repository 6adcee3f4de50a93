"""Where the checkpoint asset runs the training launcher, always through Dagster Pipes (logs and the
materialization come back to the run): a child process of the run worker, or a pod of its own on Kubernetes."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field


class TrainingRunner(dg.ConfigurableResource):
    """Runs the launcher command (training/launch.py) through Pipes and waits for it."""

    def run(self, context: dg.AssetExecutionContext, command: list[str]) -> dg.PipesClientCompletedInvocation:
        raise NotImplementedError


class SubprocessTrainingRunner(TrainingRunner):
    """The launcher as a child process of the run worker (one machine, or node 0 of a multi-node run)."""

    def run(self, context: dg.AssetExecutionContext, command: list[str]) -> dg.PipesClientCompletedInvocation:
        return dg.PipesSubprocessClient().run(command=command, context=context)


class KubernetesTrainingRunner(TrainingRunner):
    """The launcher in a pod of its own (dagster-k8s ``PipesK8sClient``): GPUs are requested for the pod,
    not for the run worker, and the data lake's volume is mounted at the same path."""

    image: str = Field(description="Image with condpt installed (deploy/Dockerfile).")
    namespace: str = "default"
    gpus: int = Field(0, ge=0, description="nvidia.com/gpu limit of the pod.")
    lake_root: str = Field(description="Data lake root; the pod sees it at the same path.")
    lake_volume_claim: str | None = Field(None, description="PersistentVolumeClaim holding the lake.")

    def pod_spec(self) -> dict[str, Any]:
        """The pod's base spec: GPU limit and the lake's volume; the image and command are set by Pipes."""
        container: dict[str, Any] = {"name": "training"}
        if self.gpus:
            container["resources"] = {"limits": {"nvidia.com/gpu": self.gpus}}
        spec: dict[str, Any] = {"containers": [container], "restartPolicy": "Never"}
        if self.lake_volume_claim:
            container["volumeMounts"] = [{"name": "lake", "mountPath": self.lake_root}]
            spec["volumes"] = [{"name": "lake", "persistentVolumeClaim": {"claimName": self.lake_volume_claim}}]
        return spec

    def pod_command(self, command: list[str]) -> list[str]:
        """The run worker's command with the image's interpreter instead of this machine's."""
        return ["python", *command[1:]]

    def run(self, context: dg.AssetExecutionContext, command: list[str]) -> dg.PipesClientCompletedInvocation:
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient().run(
            context=context,
            image=self.image,
            command=self.pod_command(command),
            namespace=self.namespace,
            base_pod_spec=self.pod_spec(),
            env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
