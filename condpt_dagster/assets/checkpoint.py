"""checkpoint: trains on every shard's blocks in a subprocess launched through Dagster Pipes."""

from typing import Any

import dagster as dg

from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.settings import TrainConfig
from condpt_dagster.defs.partitions import shards
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages.checkpoint import prepare_launch
from condpt_dagster.training.run_spec import REVISION


def build_checkpoint(config: TrainConfig, conditioning: dict[str, Any]) -> dg.AssetsDefinition:
    @dg.asset(
        name="checkpoint",
        deps=[dg.AssetDep("token_blocks", partition_mapping=dg.AllPartitionMapping()), "tokenizer"],
        group_name="training",
        kinds={"deepspeed", "pytorch"},
        code_version=config.version(REVISION),
        description=f"GPT-NeoX ({config.base_model or config.preset}) trained with DeepSpeed on all token blocks "
        f"(checkpoints/{config.run}/: DeepSpeed checkpoints, hf/ export, manifest.json, loss.png).",
    )
    def checkpoint(
        context: dg.AssetExecutionContext, lake: DataLakeResource, pipes_subprocess_client: dg.PipesSubprocessClient
    ) -> dg.MaterializeResult:
        keys = context.instance.get_dynamic_partitions(shards.name)
        launch = prepare_launch(lake.lake, keys, config, conditioning)
        context.log.info(f"training on {len(launch.spec.shards)} shard(s); spec {launch.spec_path}")
        try:
            invocation = pipes_subprocess_client.run(command=launch.command, context=context)
        except dg.DagsterPipesExecutionError as exc:
            hint = " (killed by signal 9: most likely out of memory)" if "-9" in str(exc) else ""
            raise dg.Failure(f"training failed{hint}: {exc}") from exc
        result = invocation.get_materialize_result()
        return dg.MaterializeResult(
            metadata={
                **(result.metadata or {}),
                "shards": len(launch.spec.shards),
                "run_spec": dg.MetadataValue.path(str(launch.spec_path)),
            },
            data_version=dg.DataVersion(file_data_version(launch.spec.files.weights)),
        )

    return checkpoint
