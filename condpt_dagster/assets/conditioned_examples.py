"""conditioned_examples: each document's labels rendered as a header by the configured template."""

import dagster as dg

from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import PER_SHARD_BACKFILL
from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.settings import ConditioningSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import conditioned_examples as stage


def build_conditioned_examples(options: ConditioningSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="conditioned_examples",
        backfill_policy=PER_SHARD_BACKFILL,
        deps=["clean_documents", "document_labels"],
        partitions_def=shards,
        group_name="training_data",
        kinds={"parquet"},
        code_version=options.version(stage.REVISION),
        description=f"Label header + text per document (`conditioned/<shard>.parquet`), template "
        f"`{options.template}`, fields {list(options.fields)}.",
    )
    def conditioned_examples(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        lake.require_inputs("conditioned_examples", shard)
        with shard_write_lock(paths, shard, log=context.log.info):
            stats = stage.condition_shard(paths.clean(shard), paths.labels(shard), paths.conditioned(shard), options)
            data_version = file_data_version(paths.conditioned(shard))
        return dg.MaterializeResult(
            data_version=dg.DataVersion(data_version),
            metadata={
                "dagster/row_count": stats.documents,
                "path": dg.MetadataValue.path(str(paths.conditioned(shard))),
                "template": options.template,
                "without_header": stats.without_header,
                "header_dropout_observed": round(stats.without_header / max(1, stats.documents), 4),
                "example_headers": dg.MetadataValue.md("\n\n".join(f"```\n{h}```" for h in stats.examples)),
            },
        )

    return conditioned_examples
