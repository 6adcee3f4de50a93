"""The ``[kubernetes]`` section: where the training job runs when the deployment is on Kubernetes."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool

from condpt_dagster.core.section import Section


class KubernetesSettings(Section):
    """Where the training job runs when the deployment is on Kubernetes (deploy/README.md)."""

    SECTION = "kubernetes"
    UNVERSIONED = frozenset({"train_in_pod", "image", "namespace", "gpus_per_pod", "lake_volume_claim"})
    train_in_pod: StrictBool = Field(
        False, description="Run the training launcher in its own pod (dagster-k8s PipesK8sClient), not the run's."
    )
    image: str | None = Field(None, description="Image with condpt installed (deploy/Dockerfile).")
    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    gpus_per_pod: int = Field(0, ge=0, description="nvidia.com/gpu limit of the training pod.")
    lake_volume_claim: str | None = Field(
        None, description="PersistentVolumeClaim holding the data lake, mounted at the same path in the pod."
    )

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        if values.get("train_in_pod") is True and not values.get("image"):
            return ["train_in_pod = true needs image (the condpt image the pod runs)"]
        return []
