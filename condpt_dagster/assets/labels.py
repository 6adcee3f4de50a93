import dagster as dg

from condpt_dagster.assets.metadata import count_table
from condpt_dagster.label import (
    MAX_TAGS,
    label_coverage,
    label_distribution,
    label_quality,
    label_shard,
    total_variation,
)
from condpt_dagster.labelers import LABEL_SCHEMA
from condpt_dagster.labelers.base import SYNOPSIS_MAX_CHARS
from condpt_dagster.lake import file_sha256
from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource, LabelerResource

LABEL_COLUMNS = dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in LABEL_SCHEMA])
COVERAGE_CHECK = "one_label_per_document"
CONTRACT_CHECKS = {
    "rating_in_allowed_set": ("rating_not_allowed", "Every rating is one of G, PG, PG-13, R."),
    "synopsis_present": ("synopsis_empty", "Every synopsis is non-empty."),
    "synopsis_within_limit": ("synopsis_too_long", f"Every synopsis has at most {SYNOPSIS_MAX_CHARS} characters."),
    "tag_count_within_limit": ("too_many_tags", f"No document has more than {MAX_TAGS} tags."),
}
DRIFT_CHECK = "distribution_drift"
DRIFT_LIMIT = 0.25  # total variation distance per field that raises the warning


def build_document_labels(labeler: LabelerResource) -> dg.AssetsDefinition:
    """``code_version`` is the configured labeler's version: a new labeler marks labels unsynced."""

    @dg.asset(
        name="document_labels",
        deps=["raw_documents"],
        partitions_def=shards,
        group_name="labels",
        kinds={"parquet", "pytorch"},
        code_version=labeler.version(),
        description="Tags, topics, rating, SFW, sentiment, language and synopsis for every document of a "
        "shard (labels/<shard>.parquet), written by the configured labeler.",
        check_specs=[
            dg.AssetCheckSpec(
                COVERAGE_CHECK,
                asset="document_labels",
                blocking=True,
                description="Exactly one label row per raw document.",
            ),
            *(
                dg.AssetCheckSpec(name, asset="document_labels", blocking=True, description=text)
                for name, (_, text) in CONTRACT_CHECKS.items()
            ),
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset="document_labels",
                description=f"Warns when rating, top-topic or sentiment shares move by more than {DRIFT_LIMIT} "
                "(total variation) from the shard's labels of the previous labeler version.",
            ),
        ],
    )
    def document_labels(
        context: dg.AssetExecutionContext, lake: DataLakeResource, labeler: LabelerResource
    ) -> dg.MaterializeResult:
        shard = context.partition_key
        paths = lake.lake
        impl = labeler.labeler()
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if done % (labeler.batch_docs * 10) < n:
                context.log.info(f"{shard}: labeled {done} documents")

        stats = label_shard(paths.raw(shard), paths.labels(shard), impl, labeler.batch_docs, progress)
        coverage = label_coverage(paths.raw(shard), paths.labels(shard))
        quality = label_quality(paths.labels(shard), SYNOPSIS_MAX_CHARS)
        drift = _drift_check(paths.labels_dir, shard, impl.version(), label_distribution(paths.labels(shard)))
        passed = coverage["documents"] == coverage["label_rows"] and not any(
            coverage[k] for k in ("unlabeled", "labels_without_document", "duplicate_label_rows")
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(file_sha256(paths.labels(shard))[:32]),
            metadata={
                "dagster/row_count": stats.documents,
                "dagster/column_schema": LABEL_COLUMNS,
                "path": dg.MetadataValue.path(str(paths.labels(shard))),
                "labeler": impl.name,
                "labeler_version": impl.version(),
                "fallback_rows": stats.errors,
                "nsfw_documents": stats.nsfw,
                "top_tags": count_table("tag", stats.tags.most_common(25)),
                "topics": count_table("topic", stats.topics.most_common()),
                "ratings": count_table("rating", stats.ratings.most_common()),
                "sentiments": count_table("sentiment", stats.sentiments.most_common()),
                "languages": count_table("language", stats.languages.most_common(10)),
                "examples": dg.MetadataValue.md(_examples_markdown(stats.examples)),
            },
            check_results=[
                dg.AssetCheckResult(check_name=COVERAGE_CHECK, passed=passed, metadata=coverage),
                *(
                    dg.AssetCheckResult(check_name=name, passed=quality[key] == 0, metadata={key: quality[key]})
                    for name, (key, _) in CONTRACT_CHECKS.items()
                ),
                drift,
            ],
        )

    return document_labels


def _drift_check(labels_dir, shard: str, version: str, current: dict) -> dg.AssetCheckResult:
    """Compare with the distribution saved for the previous labeler version, then save this one."""
    import json

    from condpt_dagster.lake import atomic_output

    history = labels_dir / "_distributions" / f"{shard}.json"
    saved = json.loads(history.read_text(encoding="utf-8")) if history.is_file() else []
    previous = next((entry for entry in reversed(saved) if entry["labeler_version"] != version), None)
    saved = [entry for entry in saved if entry["labeler_version"] != version]
    saved.append({"labeler_version": version, "distribution": current})
    with atomic_output(history) as tmp:
        tmp.write_text(json.dumps(saved[-10:], indent=1), encoding="utf-8")
    if previous is None:
        return dg.AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"compared_with": "none (first labeler version for this shard)"},
        )
    distances = {f: total_variation(current[f], previous["distribution"][f]) for f in current}
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=max(distances.values()) <= DRIFT_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"compared_with": previous["labeler_version"], **{f"tv_{f}": d for f, d in distances.items()}},
    )


def _examples_markdown(examples: list[dict[str, str]]) -> str:
    if not examples:
        return "(no documents)"
    header = list(examples[0])
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows += ["| " + " | ".join(str(e[h]).replace("|", "\\|") for h in header) + " |" for e in examples]
    return "\n".join(rows)
