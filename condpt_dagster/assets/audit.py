"""label_audit: the auditors' DuckDB, upserted one shard at a time."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from condpt_dagster.assets.metadata import count_table
from condpt_dagster.audit import record_checkpoints, upsert_shard, writable_copy
from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource


@dg.asset(
    name="label_audit",
    deps=["raw_documents", "document_labels"],
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
    shard = context.partition_key
    with writable_copy(Path(duckdb.database)) as con:
        counts = upsert_shard(con, lake.lake, shard)
        checkpoints = record_checkpoints(con, lake.lake)
        top_tags = con.execute(
            "SELECT tag, count(*) FROM tags WHERE kind = 'tag' AND shard = ? GROUP BY tag ORDER BY 2 DESC LIMIT 20",
            [shard],
        ).fetchall()
        ratings = con.execute(
            "SELECT rating, count(*) FROM labels WHERE shard = ? GROUP BY rating ORDER BY 2 DESC", [shard]
        ).fetchall()

    return dg.MaterializeResult(
        metadata={
            **{f"{name}_rows": n for name, n in counts.items()},
            "checkpoint_rows": checkpoints,
            "top_tags": count_table("tag", top_tags),
            "ratings": count_table("rating", ratings),
            "database": dg.MetadataValue.path(duckdb.database),
        }
    )
