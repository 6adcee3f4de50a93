"""raw_documents: one inbox shard -> normalized, deduplicated documents + quarantine."""

import dagster as dg

from condpt_dagster.assets.metadata import SOURCE_SHA_KEY, column_schema, count_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import IO_POOL, PER_SHARD_BACKFILL
from condpt_dagster.core.hashing import cached_sha256
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import raw_documents as stage

RAW_COLUMNS = column_schema(stage.RAW_SCHEMA, stage.RAW_DESCRIPTIONS)
ACCOUNTING_CHECK = "rows_accounted_for"


def build_raw_documents(options: IngestSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_documents",
        pool=IO_POOL,
        backfill_policy=PER_SHARD_BACKFILL,
        partitions_def=shards,
        group_name="ingest",
        kinds={"parquet", "polars"},
        code_version=options.version(stage.REVISION),
        description="Normalized documents of one inbox shard (`raw/<shard>.parquet`); "
        "unusable records go to `quarantine/<shard>.parquet` with their reason.",
        check_specs=[
            dg.AssetCheckSpec(
                ACCOUNTING_CHECK,
                asset="raw_documents",
                partitions_def=shards,
                blocking=True,
                description="Every record read is written or quarantined.",
            )
        ],
    )
    def raw_documents(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        with shard_write_lock(paths, shard, log=context.log.info):
            source = paths.inbox_file(shard)
            source_sha = cached_sha256(source)  # the inbox sensor's run key: what it need not ingest again
            stats = stage.ingest_shard(source, shard, paths.raw(shard), paths.quarantine(shard), options)
        counts = {
            "read": stats.read,
            "written": stats.rows_in_raw,
            "quarantined": stats.rows_in_quarantine,
        }
        context.log.info(f"{shard}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return dg.MaterializeResult(
            data_version=dg.DataVersion(stats.content_hash),
            metadata={
                "dagster/row_count": stats.rows_in_raw,
                "dagster/column_schema": RAW_COLUMNS,
                "path": dg.MetadataValue.path(str(paths.raw(shard))),
                "quarantine_path": dg.MetadataValue.path(str(paths.quarantine(shard))),
                "source_file": dg.MetadataValue.path(str(source)),
                SOURCE_SHA_KEY: source_sha,
                "records_read": stats.read,
                "quarantined": stats.rows_in_quarantine,
                "truncated": stats.truncated,
                "per_record_batches": stats.per_record_batches,
                "blank_lines": stats.blank_lines,
                "quarantine_reasons": count_table("reason", stats.quarantine_reasons.most_common(), "records"),
                "length_histogram_chars": count_table("chars", stats.ordered_length_histogram().items()),
            },
            check_results=[dg.AssetCheckResult(check_name=ACCOUNTING_CHECK, passed=stats.balanced, metadata=counts)],
        )

    return raw_documents
