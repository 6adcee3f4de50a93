"""clean_documents: one shard's raw documents after quality filters, cross-shard deduplication and PII redaction."""

import dagster as dg

from condpt_dagster.assets.metadata import column_schema, count_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import PER_SHARD_BACKFILL
from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import clean_documents as stage

CLEAN_COLUMNS = column_schema(stage.CLEAN_SCHEMA, stage.CLEAN_DESCRIPTIONS)
ACCOUNTING_CHECK = "rows_accounted_for"
WAIT_RETRIES, WAIT_SECONDS = 40, 15  # up to 10 minutes for earlier shards' raw_documents

ACCOUNTING_SPEC = dg.AssetCheckSpec(
    ACCOUNTING_CHECK,
    asset="clean_documents",
    partitions_def=shards,
    blocking=True,
    description="Raw rows = kept + removed (by reason), counted on the written files.",
)


def build_clean_documents(options: CleanSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="clean_documents",
        backfill_policy=PER_SHARD_BACKFILL,
        deps=["raw_documents"],
        partitions_def=shards,
        group_name="ingest",
        kinds={"parquet"},
        code_version=options.version(stage.REVISION),
        description="A shard's documents after Gopher quality/repetition filters (datatrove), exact and MinHash "
        "near-duplicate removal against every earlier shard (datasketch) and PII redaction (`clean/<shard>.parquet`); "
        "every removed document is in `removed/<shard>.parquet` with its reason.",
        check_specs=[ACCOUNTING_SPEC],
    )
    def clean_documents(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        lake.require_inputs("clean_documents", shard)
        _wait_for_earlier_shards(context, paths, shard)
        with shard_write_lock(paths, shard, log=context.log.info):
            stats = stage.clean_shard(paths, shard, options, log=context.log.info)
        removed = sum(stats.removed.values())
        context.log.info(
            f"{shard}: {stats.raw_rows} raw, {stats.kept} kept, {removed} removed "
            f"({dict(stats.removed_by_family())}), {sum(stats.redactions.values())} PII replacements"
        )
        counts = {"raw": stats.raw_rows, "clean": stats.rows_in_clean, "removed": stats.rows_in_removed}
        return dg.MaterializeResult(
            data_version=dg.DataVersion(file_data_version(paths.clean(shard))),
            metadata={
                "dagster/row_count": stats.rows_in_clean,
                "dagster/column_schema": CLEAN_COLUMNS,
                "path": dg.MetadataValue.path(str(paths.clean(shard))),
                "removed_path": dg.MetadataValue.path(str(paths.removed(shard))),
                "raw_documents": stats.raw_rows,
                "removed": removed,
                "removed_by_family": count_table("family", stats.removed_by_family().most_common()),
                "removed_by_reason": count_table("reason", stats.removed.most_common()),
                "pii_replacements": count_table("type", stats.redactions.most_common(), "replacements"),
                "redacted_documents": stats.redacted_documents,
                "compared_with_shards": len(stats.compared_shards),
                "compared_with_documents": stats.indexed_documents,
                "stale_later_shards": dg.MetadataValue.json(stats.stale_later_shards),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ACCOUNTING_CHECK,
                    passed=stats.balanced,
                    metadata={**counts, **{f"removed_{k}": v for k, v in stats.removed_by_family().items()}},
                )
            ],
        )

    return clean_documents


def _wait_for_earlier_shards(context: dg.AssetExecutionContext, paths: DataLake, shard: str) -> None:
    """In a backfill, earlier shards' ingestion may still be running: retry until their raw files exist."""
    earlier = [k for k in context.instance.get_dynamic_partitions(shards.name) if k < shard]
    missing = [k for k in earlier if not paths.raw(k).is_file()]
    if missing:
        context.log.warning(
            f"{shard}: waiting for raw_documents of {len(missing)} earlier shard(s) it must be compared with: "
            f"{', '.join(missing[:10])}"
        )
        raise dg.RetryRequested(max_retries=WAIT_RETRIES, seconds_to_wait=WAIT_SECONDS)
