"""document_labels: one label row per document from the configured labeler, with blocking contract checks."""

import dagster as dg

from condpt_dagster.assets.metadata import column_schema, count_table, records_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import GPU_POOL, PER_SHARD_BACKFILL
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.label_history import archive_labels, history
from condpt_dagster.core.vocab import MAX_TAGS, SYNOPSIS_MAX_CHARS
from condpt_dagster.labelers.base import LABEL_DESCRIPTIONS, LABEL_SCHEMA
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages import document_labels as stage

LABEL_COLUMNS = column_schema(LABEL_SCHEMA, LABEL_DESCRIPTIONS)
COVERAGE_CHECK = "one_label_per_document"
CONTRACT_CHECKS = {  # check name -> (count that must be 0, description)
    "rating_in_allowed_set": ("rating_not_allowed", "Every rating is one of G, PG, PG-13, R."),
    "format_in_allowed_set": ("format_not_allowed", "Every format is one of the known formats (or unknown)."),
    "synopsis_present": ("synopsis_empty", "Every synopsis is non-empty."),
    "synopsis_within_limit": ("synopsis_too_long", f"Every synopsis has at most {SYNOPSIS_MAX_CHARS} characters."),
    "tag_count_within_limit": ("too_many_tags", f"No document has more than {MAX_TAGS} tags."),
}
DRIFT_CHECK = "distribution_drift"
CHECK_SPECS = [
    dg.AssetCheckSpec(
        COVERAGE_CHECK,
        asset="document_labels",
        partitions_def=shards,
        blocking=True,
        description="Exactly one label row per raw document.",
    ),
    *(
        dg.AssetCheckSpec(name, asset="document_labels", partitions_def=shards, blocking=True, description=text)
        for name, (_, text) in CONTRACT_CHECKS.items()
    ),
    dg.AssetCheckSpec(
        DRIFT_CHECK,
        asset="document_labels",
        partitions_def=shards,
        description=f"Warns when rating, top-topic, sentiment or format shares move by more than {stage.DRIFT_LIMIT} "
        "(total variation) from the shard's labels of the previous labeler version.",
    ),
]


def _check_results(report: stage.LabelsReport) -> list[dg.AssetCheckResult]:
    drift = report.drift
    drift_metadata = {"compared_with": drift.compared_with or "none (first labeler version for this shard)"}
    return [
        dg.AssetCheckResult(check_name=COVERAGE_CHECK, passed=report.covered, metadata=report.coverage),
        *(
            dg.AssetCheckResult(check_name=name, passed=report.contract[key] == 0, metadata={key: report.contract[key]})
            for name, (key, _) in CONTRACT_CHECKS.items()
        ),
        dg.AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=drift.passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**drift_metadata, **{f"tv_{f}": d for f, d in drift.distances.items()}},
        ),
    ]


def build_document_labels(labeler: LabelerResource) -> dg.AssetsDefinition:
    """``code_version`` is the configured labeler's version: a new labeler marks labels unsynced."""

    @dg.asset(
        name="document_labels",
        pool=GPU_POOL,
        backfill_policy=PER_SHARD_BACKFILL,
        deps=["clean_documents", *(["student_labeler"] if labeler.name == "student" else [])],
        partitions_def=shards,
        group_name="labels",
        kinds={"parquet", "pytorch"},
        code_version=labeler.version(),
        description="Tags, topics, format, rating, SFW, sentiment, language and synopsis for every document of a "
        "shard (`labels/<shard>.parquet`), written by the configured labeler.",
        check_specs=CHECK_SPECS,
    )
    def document_labels(
        context: dg.AssetExecutionContext, lake: DataLakeResource, labeler: LabelerResource
    ) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        lake.require_inputs("document_labels", shard)
        impl = labeler.labeler()
        batch_docs = labeler.batch_docs or impl.batch_docs

        def progress(done: int) -> None:
            if done % (batch_docs * 10) < batch_docs:  # every tenth batch
                context.log.info(f"{shard}: labeled {done} documents")

        try:
            with shard_write_lock(paths, shard, log=context.log.info):
                report = stage.label_and_check(paths, shard, impl, batch_docs, progress)
                pruned = archive_labels(paths, shard, impl.version(), context.run_id, labeler.keep_versions)
        except stage.LabelsRejected as exc:
            raise dg.Failure(str(exc), metadata={**exc.coverage, **exc.contract}) from exc
        stats = report.stats
        return dg.MaterializeResult(
            data_version=dg.DataVersion(report.data_version),
            metadata={
                "dagster/row_count": stats.documents,
                "dagster/column_schema": LABEL_COLUMNS,
                "path": dg.MetadataValue.path(str(paths.labels(shard))),
                "labeler": impl.name,
                "labeler_version": impl.version(),
                "label_history": dg.MetadataValue.json(
                    {"kept": [e["labeler_version"] for e in history(paths, shard)], "pruned": pruned}
                ),
                "fallback_rows": stats.errors,
                "nsfw_documents": stats.nsfw,
                "top_tags": count_table("tag", stats.tags.most_common(25)),
                "topics": count_table("topic", stats.topics.most_common()),
                "ratings": count_table("rating", stats.ratings.most_common()),
                "sentiments": count_table("sentiment", stats.sentiments.most_common()),
                "formats": count_table("format", stats.formats.most_common()),
                "languages": count_table("language", stats.languages.most_common(10)),
                "examples": records_table(stats.examples),
            },
            check_results=_check_results(report),
        )

    return document_labels
