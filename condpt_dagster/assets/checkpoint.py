"""checkpoint: trains on every shard's blocks in a subprocess launched through Dagster Pipes."""

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError

from condpt_dagster.assets.metadata import records_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import GPU_POOL
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.settings import CleanSettings, TrainingSettings
from condpt_dagster.resources import DataLakeResource, TrainingRunner
from condpt_dagster.stages.checkpoint import check_contamination, describe_model, prepare_launch
from condpt_dagster.training.run_spec import REVISION

DECONTAMINATION_CHECK = "heldout_decontaminated"


def build_checkpoint(config: TrainingSettings, conditioning: HeaderFormat, clean: CleanSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="checkpoint",
        pool=GPU_POOL,
        deps=[dg.AssetDep("token_blocks", partition_mapping=dg.AllPartitionMapping()), "tokenizer"],
        group_name="training",
        kinds={"deepspeed", "pytorch"},
        code_version=config.version(REVISION),
        description=f"GPT-NeoX ({config.base_model or config.preset}) trained with DeepSpeed on all token blocks "
        f"(checkpoints/{config.run}/: DeepSpeed checkpoints, hf/ export, manifest.json, loss.png).",
        check_specs=[
            dg.AssetCheckSpec(
                DECONTAMINATION_CHECK,
                asset="checkpoint",
                blocking=True,
                description="No held-out document or [clean] eval_texts text is a near-duplicate of a training "
                "document (checked before training starts; a failure stops the run).",
            )
        ],
    )
    def checkpoint(
        context: dg.AssetExecutionContext,
        lake: DataLakeResource,
        training_runner: TrainingRunner,
    ):
        keys = context.instance.get_dynamic_partitions(shards.name)
        launch = prepare_launch(lake.lake, keys, config, conditioning)
        check = decontamination_check(lake, list(launch.spec.shards), clean)
        if not check.passed:
            yield check
            raise dg.Failure(
                "held-out or evaluation text shares near-duplicates with training documents; training not started "
                f"(see the {DECONTAMINATION_CHECK} check; rerun clean_documents for shards added out of order)",
                metadata=check.metadata,
            )
        context.log.info(f"training on {len(launch.spec.shards)} shard(s); spec {launch.spec_path}")
        try:
            invocation = training_runner.run(context, launch.command)
        except DagsterPipesExecutionError as exc:  # not exported at dagster's top level
            hint = " (killed by signal 9: most likely out of memory)" if "-9" in str(exc) else ""
            raise dg.Failure(f"training failed{hint}: {exc}") from exc
        result = invocation.get_materialize_result()
        describe_model(launch.spec.files)
        yield dg.MaterializeResult(
            check_results=[check],
            metadata={
                **(result.metadata or {}),
                "shards": len(launch.spec.shards),
                "run_spec": dg.MetadataValue.path(str(launch.spec_path)),
            },
            data_version=dg.DataVersion(file_data_version(launch.spec.files.weights)),
        )

    return checkpoint


def decontamination_check(lake: DataLakeResource, shard_keys: list[str], clean: CleanSettings) -> dg.AssetCheckResult:
    if not clean.check_decontamination:
        return dg.AssetCheckResult(
            check_name=DECONTAMINATION_CHECK, passed=True, metadata={"skipped": "[clean] check_decontamination = false"}
        )
    report = check_contamination(lake.lake, shard_keys, clean)
    return dg.AssetCheckResult(
        check_name=DECONTAMINATION_CHECK,
        passed=report.passed,
        metadata={
            "training_documents": report.training_documents,
            "checked_documents": report.checked,
            "contaminated": report.contaminated,
            "threshold": clean.decontamination_threshold,
            "examples": records_table(
                report.pairs, {"document": "string", "training": "string", "similarity": "float"}
            ),
        },
    )
