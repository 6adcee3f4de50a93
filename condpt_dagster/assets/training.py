"""The checkpoint asset: trains on every shard's blocks in a subprocess launched through Dagster Pipes."""

import dagster as dg

from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.training.config import TrainConfig
from condpt_dagster.training.launch import launch_command, prepare_run


def build_checkpoint(config: TrainConfig, conditioning: dict) -> dg.AssetsDefinition:
    @dg.asset(
        name="checkpoint",
        deps=[dg.AssetDep("token_blocks", partition_mapping=dg.AllPartitionMapping()), "tokenizer"],
        group_name="training",
        kinds={"deepspeed", "pytorch"},
        code_version=config.version(),
        description=f"GPT-NeoX ({config.base_model or config.preset}) trained with DeepSpeed on all token blocks "
        f"(checkpoints/{config.run}/: DeepSpeed checkpoints, hf/ export, manifest.json, loss.png).",
    )
    def checkpoint(
        context: dg.AssetExecutionContext, lake: DataLakeResource, pipes_subprocess_client: dg.PipesSubprocessClient
    ) -> dg.MaterializeResult:
        keys = context.instance.get_dynamic_partitions(shards.name)
        spec, spec_path = prepare_run(lake.lake, keys, config, conditioning, config.version())
        context.log.info(f"training on {len(spec.shards)} shard(s); spec {spec_path}")
        command = launch_command(config, spec_path)
        try:
            invocation = pipes_subprocess_client.run(command=command, context=context)
        except dg.DagsterPipesExecutionError as exc:
            hint = " (killed by signal 9: most likely out of memory)" if "-9" in str(exc) else ""
            raise dg.Failure(f"training failed{hint}: {exc}") from exc
        result = invocation.get_materialize_result()
        return dg.MaterializeResult(
            metadata={
                **(result.metadata or {}),
                "shards": len(spec.shards),
                "run_spec": dg.MetadataValue.path(str(spec_path)),
            },
            data_version=dg.DataVersion(_weights_hash(spec.out_dir)),
        )

    return checkpoint


def _weights_hash(out_dir: str) -> str:
    from pathlib import Path

    from condpt_dagster.lake import file_sha256

    return file_sha256(Path(out_dir) / "hf" / "model.safetensors")[:32]
