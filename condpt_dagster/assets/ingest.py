import dagster as dg

from condpt_dagster.assets.metadata import count_table
from condpt_dagster.ingest import RAW_SCHEMA, IngestOptions, ingest_shard, parquet_row_count
from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource

RAW_COLUMNS = dg.TableSchema(columns=[dg.TableColumn(field.name, str(field.type)) for field in RAW_SCHEMA])
ACCOUNTING_CHECK = "rows_accounted_for"


def build_raw_documents(options: IngestOptions) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_documents",
        partitions_def=shards,
        group_name="ingest",
        kinds={"parquet", "polars"},
        code_version=options.version(),
        description="Normalized, deduplicated documents of one inbox shard (raw/<shard>.parquet); "
        "unusable records go to quarantine/<shard>.parquet with their reason.",
        check_specs=[
            dg.AssetCheckSpec(
                ACCOUNTING_CHECK,
                asset="raw_documents",
                blocking=True,
                description="Every record read is written, counted as a duplicate, or quarantined.",
            )
        ],
    )
    def raw_documents(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard = context.partition_key
        paths = lake.lake
        source = paths.inbox_file(shard)
        stats = ingest_shard(source, shard, paths.raw(shard), paths.quarantine(shard), options)
        written = parquet_row_count(paths.raw(shard))
        quarantined = parquet_row_count(paths.quarantine(shard))
        balanced = stats.read == written + stats.duplicates + quarantined
        context.log.info(
            f"{shard}: read {stats.read}, written {written}, duplicates {stats.duplicates}, quarantined {quarantined}"
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(stats.content_hash),
            metadata={
                "dagster/row_count": written,
                "dagster/column_schema": RAW_COLUMNS,
                "path": dg.MetadataValue.path(str(paths.raw(shard))),
                "quarantine_path": dg.MetadataValue.path(str(paths.quarantine(shard))),
                "source_file": dg.MetadataValue.path(str(source)),
                "records_read": stats.read,
                "duplicates": stats.duplicates,
                "quarantined": quarantined,
                "truncated": stats.truncated,
                "blank_lines": stats.blank_lines,
                "quarantine_reasons": count_table("reason", stats.quarantine_reasons.most_common(), "records"),
                "length_histogram_chars": count_table("chars", stats.ordered_length_histogram().items()),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ACCOUNTING_CHECK,
                    passed=balanced,
                    metadata={
                        "read": stats.read,
                        "written": written,
                        "duplicates": stats.duplicates,
                        "quarantined": quarantined,
                    },
                )
            ],
        )

    return raw_documents
