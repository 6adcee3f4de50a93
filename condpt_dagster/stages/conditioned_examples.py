"""Stage ``conditioned_examples``: documents + labels -> ``conditioned/<shard>.parquet`` (id, header, text).

Each header is rendered by ``conditioning.headers.build_header`` (templates and dropout documented there).

"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.conditioning.headers import build_header
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.settings import ConditioningSettings
from condpt_dagster.stages.document_labels import LABELER_VERSION_KEY

# Bump when the templates or dropout change their output for the same labels and options.
REVISION = "2"  # 2: label values rendered inert (no control tokens from free text)
CONDITIONED_SCHEMA = pa.schema([("id", pa.string()), ("header", pa.string()), ("text", pa.string())])
LABELS_VERSION_KEY = "condpt.labels_version"  # Parquet metadata: the labeler_version the headers were built from


def labels_version_of(conditioned_path: str | os.PathLike[str]) -> str | None:
    """The labeler_version a conditioned file's headers were built from (None for files without it)."""
    metadata = pq.read_schema(conditioned_path).metadata or {}
    return metadata.get(LABELS_VERSION_KEY.encode(), b"").decode() or None


@dataclass
class ConditionStats:
    documents: int = 0
    without_header: int = 0
    examples: list[str] = field(default_factory=list)


def condition_shard(
    raw_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    options: ConditioningSettings,
) -> ConditionStats:
    """Join documents with their labels by id and write (id, header, text) rows in document order."""
    label_table = pq.read_table(labels_path)
    labels_by_id = {row["id"]: row for row in label_table.to_pylist()}
    stats = ConditionStats()
    versions = (
        label_table.column("labeler_version").unique().to_pylist()
        if "labeler_version" in label_table.column_names
        else []
    )
    if not any(versions):  # no documents: the version the (empty) labels file was written by
        versions = [(label_table.schema.metadata or {}).get(LABELER_VERSION_KEY.encode(), b"").decode()]
    lineage = {LABELS_VERSION_KEY: ",".join(sorted(v for v in versions if v))}  # which labels the headers came from
    schema = CONDITIONED_SCHEMA.with_metadata(lineage)
    with atomic_output(out_path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for batch in pq.ParquetFile(raw_path).iter_batches(batch_size=4096, columns=["id", "text"]):
            ids, texts = batch.column("id").to_pylist(), batch.column("text").to_pylist()
            headers = []
            for doc_id in ids:
                labels = labels_by_id.get(doc_id)
                if labels is None:
                    raise ValueError(f"{labels_path}: no label row for document {doc_id!r} of {raw_path}")
                try:
                    header = build_header(doc_id, labels, options)
                except ValueError as exc:
                    raise ValueError(f"{labels_path}: document {doc_id!r}: {exc}") from exc
                stats.without_header += not header
                if len(stats.examples) < 3 and header:
                    stats.examples.append(header)
                headers.append(header)
            writer.write_table(pa.table({"id": ids, "header": headers, "text": texts}, schema=schema))
            stats.documents += len(ids)
    return stats
