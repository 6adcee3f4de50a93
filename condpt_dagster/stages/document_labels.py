"""Stage ``document_labels``: ``raw/<shard>.parquet`` -> ``labels/<shard>.parquet``, one row per document.

Streams the raw shard in batches through a :class:`~condpt_dagster.labelers.base.Labeler` and writes
rows with ``LABEL_SCHEMA`` atomically; then measures what the asset's checks report: coverage (one row per
document), the label contract, and drift of the label distribution against the shard's labels under the
previous labeler version (history kept in ``labels/_distributions/<shard>.json``).
"""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.core.faults import failpoint
from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.io import atomic_output, atomic_write_text
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.vocab import FORMATS, MAX_TAGS, RATINGS, SYNOPSIS_MAX_CHARS
from condpt_dagster.labelers.base import LABEL_SCHEMA, DocumentLabels, Labeler

DRIFT_LIMIT = 0.25  # total variation distance per field that raises the drift warning
DRIFT_HISTORY = 10  # labeler versions remembered per shard


@dataclass
class LabelStats:
    documents: int = 0
    errors: int = 0
    tags: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)
    ratings: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    nsfw: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, doc_id: str, labels: DocumentLabels, keep_examples: int = 5) -> None:
        self.documents += 1
        self.errors += labels.error is not None
        self.tags.update(labels.tags)
        self.topics.update(labels.topics)
        self.ratings[labels.rating] += 1
        self.sentiments[labels.sentiment] += 1
        self.formats[labels.format] += 1
        self.languages[labels.language] += 1
        self.nsfw += not labels.sfw
        if len(self.examples) < keep_examples:
            self.examples.append(
                {
                    "id": doc_id,
                    "rating": labels.rating,
                    "format": labels.format,
                    "topics": ", ".join(labels.topics),
                    "tags": ", ".join(labels.tags),
                    "synopsis": labels.synopsis,
                }
            )


LABELER_VERSION_KEY = "condpt.labeler_version"  # Parquet metadata of labels/<shard>.parquet


def label_rows(ids: list[str], labels: list[DocumentLabels], labeler: Labeler, version: str) -> pa.Table:
    return pa.table(
        {
            "id": ids,
            "tags": [lab.tags for lab in labels],
            "topics": [lab.topics for lab in labels],
            "rating": [lab.rating for lab in labels],
            "sfw": [lab.sfw for lab in labels],
            "sentiment": [lab.sentiment for lab in labels],
            "format": [lab.format for lab in labels],
            "language": [lab.language for lab in labels],
            "synopsis": [lab.synopsis for lab in labels],
            "length": [lab.length for lab in labels],
            "readability": [lab.readability for lab in labels],
            "scores": [orjson.dumps(lab.scores).decode() for lab in labels],
            "labeler": [labeler.name] * len(ids),
            "labeler_version": [version] * len(ids),
            "error": [lab.error for lab in labels],
        },
        schema=LABEL_SCHEMA,
    )


def label_shard(
    raw_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    labeler: Labeler,
    batch_docs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> LabelStats:
    """Label every document of a raw shard into ``out_path``, a temporary that label_and_check publishes after
    its checks, ``batch_docs`` at a time (None: the labeler's own ``batch_docs``); ``progress(done)`` is called
    after each batch with the total so far."""
    batch_docs = batch_docs or labeler.batch_docs
    version = labeler.version()
    stats = LabelStats()
    source = pq.ParquetFile(raw_path)
    schema = LABEL_SCHEMA.with_metadata({LABELER_VERSION_KEY: version})  # also says it for an empty shard
    with pq.ParquetWriter(out_path, schema, compression="zstd") as writer:
        pending_ids: deque[list[str]] = deque()  # the labeler may read one batch ahead of what it returns

        def texts() -> Iterator[list[str]]:
            for batch in source.iter_batches(batch_size=batch_docs, columns=["id", "text"]):
                pending_ids.append(batch.column("id").to_pylist())
                yield batch.column("text").to_pylist()

        for labels in labeler.label_batches(texts()):
            ids = pending_ids.popleft()
            if len(labels) != len(ids):
                raise RuntimeError(f"{labeler.name} returned {len(labels)} label rows for {len(ids)} documents")
            writer.write_table(label_rows(ids, labels, labeler, version))
            failpoint("document_labels:batch")
            for doc_id, lab in zip(ids, labels, strict=True):
                stats.add(doc_id, lab)
            if progress:
                progress(stats.documents)
    return stats


def label_coverage(raw_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]) -> dict[str, int]:
    """How label rows line up with documents: all counts but ``documents``/``label_rows`` must be 0."""
    raw_ids = pq.read_table(raw_path, columns=["id"]).column("id").to_pylist()
    label_ids = pq.read_table(labels_path, columns=["id"]).column("id").to_pylist()
    raw_set, label_set = set(raw_ids), set(label_ids)
    return {
        "documents": len(raw_ids),
        "label_rows": len(label_ids),
        "unlabeled": len(raw_set - label_set),
        "labels_without_document": len(label_set - raw_set),
        "duplicate_label_rows": len(label_ids) - len(label_set),
    }


def label_quality(
    labels_path: str | os.PathLike[str], synopsis_max: int = SYNOPSIS_MAX_CHARS, max_tags: int = MAX_TAGS
) -> dict[str, int]:
    """Rows breaking a label contract; every count must be 0 for the blocking checks to pass."""
    table = pq.read_table(labels_path, columns=["rating", "format", "synopsis", "tags"]).to_pylist()
    return {
        "rating_not_allowed": sum(row["rating"] not in RATINGS for row in table),
        "format_not_allowed": sum(row["format"] not in FORMATS for row in table),
        "synopsis_empty": sum(not (row["synopsis"] or "").strip() for row in table),
        "synopsis_too_long": sum(len(row["synopsis"] or "") > synopsis_max for row in table),
        "too_many_tags": sum(len(row["tags"] or []) > max_tags for row in table),
    }


def label_distribution(labels_path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Shares of each rating, top topic, sentiment and format: the fingerprint the drift check compares."""
    table = pq.read_table(labels_path, columns=["rating", "topics", "sentiment", "format"]).to_pylist()
    n = max(1, len(table))
    fields = {
        "rating": Counter(row["rating"] for row in table),
        "topic": Counter((row["topics"] or ["(none)"])[0] for row in table),
        "sentiment": Counter(row["sentiment"] for row in table),
        "format": Counter(row["format"] for row in table),
    }
    return {name: {k: round(v / n, 6) for k, v in counts.items()} for name, counts in fields.items()}


def total_variation(a: dict[str, float], b: dict[str, float]) -> float:
    return round(0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)), 6)


@dataclass
class Drift:
    compared_with: str | None  # the previous labeler version, None for a shard's first labels
    distances: dict[str, float]  # total variation per field

    @property
    def passed(self) -> bool:
        return not self.distances or max(self.distances.values()) <= DRIFT_LIMIT


def record_drift(history_path: Path, version: str, current: dict[str, dict[str, float]]) -> Drift:
    """Compare with the distribution saved for the previous labeler version, then save this one."""
    saved = json.loads(history_path.read_text(encoding="utf-8")) if history_path.is_file() else []
    previous = next((entry for entry in reversed(saved) if entry["labeler_version"] != version), None)
    saved = [entry for entry in saved if entry["labeler_version"] != version]
    saved.append({"labeler_version": version, "distribution": current})
    atomic_write_text(history_path, json.dumps(saved[-DRIFT_HISTORY:], indent=1))
    if previous is None:
        return Drift(None, {})
    before = previous["distribution"]  # a field new in this version (e.g. format) has nothing to drift from
    distances = {f: total_variation(current[f], before[f]) for f in current if f in before}
    return Drift(previous["labeler_version"], distances)


@dataclass
class LabelsReport:
    stats: LabelStats
    coverage: dict[str, int]
    contract: dict[str, int]  # rows breaking each label contract (all 0 to pass)
    drift: Drift
    data_version: str

    @property
    def covered(self) -> bool:
        counts = self.coverage
        extra = ("unlabeled", "labels_without_document", "duplicate_label_rows")
        return counts["documents"] == counts["label_rows"] and not any(counts[k] for k in extra)


class LabelsRejected(RuntimeError):
    """The new labels fail a blocking check; they were not published and the previous file is unchanged."""

    def __init__(self, shard: str, coverage: dict[str, int], contract: dict[str, int]) -> None:
        failed = {k: v for k, v in {**coverage, **contract}.items() if v and k not in ("documents", "label_rows")}
        super().__init__(f"shard {shard!r}: new labels fail blocking checks {failed}; not published")
        self.coverage, self.contract = coverage, contract


def label_and_check(
    lake: DataLake,
    shard: str,
    labeler: Labeler,
    batch_docs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> LabelsReport:
    """Label a shard into a temporary file, check coverage and the label contract, and publish only if both
    pass (else raise LabelsRejected); then record the drift against the previous labeler version."""
    raw = lake.clean(shard)
    with atomic_output(lake.labels(shard)) as tmp:
        stats = label_shard(raw, tmp, labeler, batch_docs, progress)
        coverage, contract = label_coverage(raw, tmp), label_quality(tmp)
        report = LabelsReport(stats, coverage, contract, Drift(None, {}), file_data_version(tmp))
        if not report.covered or any(contract.values()):
            raise LabelsRejected(shard, coverage, contract)
    distribution = label_distribution(lake.labels(shard))
    report.drift = record_drift(lake.label_distributions(shard), labeler.version(), distribution)
    return report


def stored_labeler_version(path) -> str | None:
    """The labeler_version of a labels file (one labeler writes a whole shard), None if there is none."""
    if not os.path.exists(path):
        return None
    table = pq.read_table(path, columns=["labeler_version"])
    if table.num_rows:
        return table.column("labeler_version")[0].as_py()
    return (table.schema.metadata or {}).get(LABELER_VERSION_KEY.encode(), b"").decode() or None
