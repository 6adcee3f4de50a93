"""Stage ``conditioned_examples``: documents + labels -> ``conditioned/<shard>.parquet`` (id, header, text).

A header renders a document's labels in one of three templates; the trainer sees ``header + BODY_TOKEN +
text``. ``BODY_TOKEN`` is a special token that text can never produce (see stages/tokenizer.py), so whatever a
document's own text says, including a fake header or control-token strings, comes after it and cannot pose
as labels. Label values are free text too (an extractive synopsis or a tag word copies the document): every
value is rendered through ``inert_text`` (one line, ``<|`` broken to ``< |``), and closed values become
control tokens only as slugs, so the only control tokens in a header are the ones the template put there.

Templates (each a small function below):
- ``laion`` (default, the reference format)::

      [ PG, politics, senate, abortion ]
      # Montana bill seeks abortion ban.

  rating, topics and tags (in ``fields`` order) inside the brackets; the synopsis on a ``#`` line.
- ``control_tokens``: one special token per closed-vocabulary value (``<|rating:PG|>``, ``<|topic:politics|>``,
  ``<|sfw:true|>``, ...), as in conditional training with preference tokens; open-vocabulary tags and the
  synopsis follow their marker tokens ``<|tags|>`` and ``<|synopsis|>`` as text.
- ``metadata``: ``key: value`` lines, as in metadata-conditioned pretraining.

Dropout is deterministic in (seed, document id): ``conditional_dropout`` of documents get an empty header
(the model also learns the unconditional distribution), and each field is left out with its own
``field_dropout`` probability.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.core.hashing import unit_hash
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.settings import ConditioningOptions
from condpt_dagster.core.vocab import CLOSED_FIELDS, SYNOPSIS_MARKER, TAGS_MARKER, control_token, inert_text
from condpt_dagster.stages.document_labels import LABELER_VERSION_KEY

# Bump when the templates or dropout change their output for the same labels and options.
REVISION = "2"  # 2: label values rendered inert (no control tokens from free text)
CONDITIONED_SCHEMA = pa.schema([("id", pa.string()), ("header", pa.string()), ("text", pa.string())])
LABELS_VERSION_KEY = "condpt.labels_version"  # Parquet metadata: the labeler_version the headers were built from


def labels_version_of(conditioned_path: str | os.PathLike[str]) -> str | None:
    """The labeler_version a conditioned file's headers were built from (None for files without it)."""
    metadata = pq.read_schema(conditioned_path).metadata or {}
    return metadata.get(LABELS_VERSION_KEY.encode(), b"").decode() or None


def _values(labels: dict[str, Any], name: str) -> list[str]:
    """A field's values as inert, non-empty one-line strings."""
    value = labels.get(name)
    if value is None:
        return []
    if name == "sfw":
        return ["SFW" if value else "NSFW"]
    values = value if isinstance(value, list | tuple) else [value]
    return [text for text in map(inert_text, values) if text]


_BRACKET_SYNTAX = str.maketrans({",": " ", "[": " ", "]": " "})


def laion_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    # Brackets and commas are the template's own syntax: inside a value they become spaces.
    values = [v for f in fields if f != "synopsis" for v in _values(labels, f)]
    bracket = [w for w in (" ".join(v.translate(_BRACKET_SYNTAX).split()) for v in values) if w]
    lines = [f"[ {', '.join(bracket)} ]"] if bracket else []
    synopsis = _values(labels, "synopsis") if "synopsis" in fields else []
    if synopsis:
        lines.append(f"# {synopsis[0]}")
    return "\n".join(lines) + "\n" if lines else ""


def control_tokens_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    parts = []
    for name in fields:
        if name in CLOSED_FIELDS:
            raw = labels.get(name)
            values = raw if isinstance(raw, list) else [] if raw is None else [raw]
            token_field = "topic" if name == "topics" else name
            parts += [control_token(token_field, v) for v in values]
        elif _values(labels, name):
            marker = TAGS_MARKER if name == "tags" else SYNOPSIS_MARKER
            parts.append(marker + ", ".join(_values(labels, name)))
    return "".join(parts)


def metadata_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    lines = [f"{name}: {', '.join(_values(labels, name))}" for name in fields if _values(labels, name)]
    return "\n".join(lines) + "\n" if lines else ""


TEMPLATES: dict[str, Callable[[dict[str, Any], Sequence[str]], str]] = {
    "laion": laion_header,
    "control_tokens": control_tokens_header,
    "metadata": metadata_header,
}


def build_header(doc_id: str, labels: dict[str, Any], options: ConditioningOptions) -> str:
    """The header for one document after dropout ("" when the whole header is dropped)."""
    if unit_hash(options.seed, doc_id, "header") < options.conditional_dropout:
        return ""
    kept = [f for f in options.fields if unit_hash(options.seed, doc_id, f) >= options.field_dropout.get(f, 0.0)]
    return TEMPLATES[options.template](labels, kept)


@dataclass
class ConditionStats:
    documents: int = 0
    without_header: int = 0
    examples: list[str] = field(default_factory=list)


def condition_shard(
    raw_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    options: ConditioningOptions,
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
