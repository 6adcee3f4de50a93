from collections import Counter

import dagster as dg

from condpt_dagster.label import label_coverage, label_shard
from condpt_dagster.labelers import LABEL_SCHEMA
from condpt_dagster.lake import file_sha256
from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource, LabelerResource

LABEL_COLUMNS = dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in LABEL_SCHEMA])
COVERAGE_CHECK = "one_label_per_document"


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
            )
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
                "top_tags": _counts("tag", stats.tags, 25),
                "topics": _counts("topic", stats.topics),
                "ratings": _counts("rating", stats.ratings),
                "sentiments": _counts("sentiment", stats.sentiments),
                "languages": _counts("language", stats.languages, 10),
                "examples": dg.MetadataValue.md(_examples_markdown(stats.examples)),
            },
            check_results=[dg.AssetCheckResult(check_name=COVERAGE_CHECK, passed=passed, metadata=coverage)],
        )

    return document_labels


def _counts(label: str, counts: Counter[str], top: int | None = None) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord({label: k, "documents": n}) for k, n in counts.most_common(top)],
        schema=dg.TableSchema(columns=[dg.TableColumn(label, "string"), dg.TableColumn("documents", "int")]),
    )


def _examples_markdown(examples: list[dict[str, str]]) -> str:
    if not examples:
        return "(no documents)"
    header = list(examples[0])
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows += ["| " + " | ".join(str(e[h]).replace("|", "\\|") for h in header) + " |" for e in examples]
    return "\n".join(rows)
