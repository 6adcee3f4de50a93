"""label_audit: the auditors' DuckDB, upserted one shard at a time."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from condpt_dagster.assets.metadata import count_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import PER_SHARD_BACKFILL
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages.label_audit import audit_shard


@dg.asset(
    name="label_audit",
    backfill_policy=PER_SHARD_BACKFILL,
    deps=["clean_documents", "document_labels", "token_blocks", "checkpoint"],  # every asset it reads
    partitions_def=shards,
    group_name="audit",
    kinds={"duckdb"},
    code_version="1",
    description="Documents, labels, tags (kind, score), block spans and checkpoints of every shard in audit.duckdb, "
    "with views tag_distribution, tag_by_shard, rating_distribution, tag_cooccurrence, labeler_versions and "
    "training_lineage. Block spans and checkpoints appear once blocks and training exist: rematerialize then.",
)
def label_audit(
    context: dg.AssetExecutionContext, lake: DataLakeResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    with shard_write_lock(lake.lake, context.partition_key, log=context.log.info):  # reads a consistent shard
        summary = audit_shard(Path(duckdb.database), lake.lake, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            **{f"{name}_rows": n for name, n in summary.rows.items()},
            "checkpoint_rows": summary.checkpoint_rows,
            "top_tags": count_table("tag", summary.top_tags),
            "ratings": count_table("rating", summary.ratings),
            "database": dg.MetadataValue.path(duckdb.database),
        }
    )
