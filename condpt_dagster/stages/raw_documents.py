"""Stage ``raw_documents``: a shard file -> normalized documents (``raw/<shard>.parquet``) + rejects
(``quarantine/<shard>.parquet``).

Input is Dolma/RedPajama-shaped records (``id``, ``text``, ``source``, ``meta``; other top-level fields are
kept inside ``meta``) read by :mod:`~condpt_dagster.ingest.records`. The shard is streamed in batches,
so memory does not grow with its size. Text normalization runs vectorized in polars.

Every record read ends up in exactly one place: written, or quarantined with its line number, reason and raw
bytes (duplicate texts are written: ``clean_documents`` removes them with a row saying why);
:func:`ingest_shard` recounts the files it wrote so the ``rows_accounted_for`` check compares what is really
on disk. Schemas: docs/design.md.
"""

from __future__ import annotations

import html
import os
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

import msgspec
import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.core.arrow_strings import ContentHash, arrow_strings, utf8_digests, utf8_parts
from condpt_dagster.core.faults import failpoint
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.ingest.records import IngestError, ReadCounts, RecordBatch, Reject, read_batches

# Bump when the ingestion logic changes its output for the same input and options.
REVISION = "3"  # 3: integers beyond 64 bits in id/meta kept exactly

RAW_FIELDS = {  # name: (type, what it holds: the asset's column schema in the UI shows it)
    "id": (pa.string(), "the record's id as given (as a string); without one, the blake2b-128 hex of its text"),
    "text": (pa.string(), "the document's text, normalized ([ingest]: Unicode form, control characters, HTML, spaces)"),
    "source": (pa.string(), "where the record says it came from (its `source` field), `unknown` if absent"),
    "meta": (pa.string(), "JSON object: the record's `meta` plus every other top-level field it had"),
    "shard": (pa.string(), "the shard (inbox file) the record was read from"),
    "line": (pa.int64(), "1-based line (JSONL) or row (Parquet) of the record in that file"),
}
RAW_SCHEMA = pa.schema([(name, kind) for name, (kind, _) in RAW_FIELDS.items()])
RAW_DESCRIPTIONS = {name: text for name, (_, text) in RAW_FIELDS.items()}
QUARANTINE_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.binary()),
    ]
)
# Row-group min/max only where a reader can filter on them: text and meta statistics cost ~15% of the write.
RAW_STATISTICS = ["id", "source", "shard", "line"]
LENGTH_BUCKETS = (256, 1024, 4096, 16384, 65536)  # upper bounds in characters; the last bucket is open


@dataclass
class IngestStats(ReadCounts):
    written: int = 0
    truncated: int = 0  # over max_chars and cut (oversize="truncate")
    per_record_batches: int = 0  # batches read record by record (a bad record, or Parquet) instead of whole
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    length_histogram: Counter[str] = field(default_factory=Counter)
    content_hash: str = ""  # hash of (id, text) of every written document, in order
    rows_in_raw: int = 0  # read back from the published files
    rows_in_quarantine: int = 0

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())

    @property
    def balanced(self) -> bool:
        """Every record read is in the raw file or in the quarantine file."""
        return self.read == self.rows_in_raw + self.rows_in_quarantine

    def ordered_length_histogram(self) -> dict[str, int]:
        """Document counts per length bucket, shortest bucket first, empty buckets included."""
        return {label: self.length_histogram.get(label, 0) for label in _BUCKET_LABELS}


def normalize_texts(texts: list[str], options: IngestSettings) -> list[str]:
    """Normalize a batch of texts; the result may be empty for markup-only input (see normalize_series)."""
    return normalize_series(pl.Series("text", texts, dtype=pl.String), options).to_list()


def normalize_series(s: pl.Series, options: IngestSettings, may_have_controls: list[bool] | None = None) -> pl.Series:
    """Normalize a String Series of texts (``may_have_controls``: which texts the control character pass
    needs to look at; default all).

    Regex passes run vectorized in polars; patterns are written to match only what changes (a single
    space is never "replaced" by a space), which keeps each pass near memory speed. Unicode
    normalization uses ``unicodedata`` on the texts that are not pure ASCII (every normalization form
    leaves ASCII as it is; polars' own ``str.normalize`` has no quick check and is 40x slower).
    """
    if options.unicode_form:
        unicode = partial(unicodedata.normalize, options.unicode_form)
        s = _where(s, _non_ascii(s), lambda t: pl.Series(list(map(unicode, t.to_list())), dtype=pl.String))
    # NUL and other C0 control characters (except tab/newline/CR) never belong in text.
    controls = r"(?-u)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    rows = None if may_have_controls is None else pl.Series(may_have_controls, dtype=pl.Boolean)
    s = _where(s, rows, lambda t: t.str.replace_all(controls, ""))
    if options.strip_html:
        s = _where(s, s.str.contains("<", literal=True), _strip_tags)
        needs_unescape = s.str.contains(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+\d*);")
        s = _where(s, needs_unescape, lambda t: t.map_elements(html.unescape, return_dtype=pl.String))
    if options.normalize_whitespace:
        s = _where(s, _whitespace_to_normalize(s), _normalize_whitespace)
    return s


# What ``_normalize_whitespace`` changes, as literals (memchr-fast) and, for the few non-ASCII texts, the
# non-ASCII Unicode White_Space characters (what the regex crate's \s adds to ASCII whitespace).
_WHITESPACE_LITERALS = ("  ", " \n", "\n ", "\n\n\n", "\t", "\r", "\x0b", "\x0c")
_NON_ASCII_SPACE = "[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _where(s: pl.Series, rows: pl.Series | None, transform: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``transform`` applied to the rows where ``rows`` is true (all rows when None), the others as they are."""
    if rows is None:
        return transform(s)
    index = rows.arg_true()
    if index.is_empty():
        return s
    return s.scatter(index, transform(s.gather(index)))


def _strip_tags(s: pl.Series) -> pl.Series:
    s = s.str.replace_all(r"(?i)<br\s*/?>", "\n")
    return s.str.replace_all(r"(?i)</?(?:p|div|span|i|b|u|em|strong|font|center)(?:\s[^<>]*)?>", "")


def _whitespace_to_normalize(s: pl.Series) -> pl.Series:
    """Rows that ``_normalize_whitespace`` would change: each of its patterns needs one of these. Literal
    searches first; the Unicode class (a regex scan, ~30x slower) only on texts that are not pure ASCII."""
    mask = s.str.strip_chars().str.len_bytes() != s.str.len_bytes()
    for literal in _WHITESPACE_LITERALS:
        mask |= s.str.contains(literal, literal=True)
    non_ascii = _non_ascii(s).arg_true()
    if not non_ascii.is_empty():
        mask = mask.scatter(non_ascii, mask.gather(non_ascii) | s.gather(non_ascii).str.contains(_NON_ASCII_SPACE))
    return mask


def _non_ascii(s: pl.Series) -> pl.Series:
    return s.str.len_chars() != s.str.len_bytes()


def _normalize_whitespace(s: pl.Series) -> pl.Series:
    return (
        s.str.replace_all(r"\r\n?", "\n")
        .str.replace_all(r"[^\S\n]{2,}|[^\S \n]", " ")  # runs of spaces, tabs, NBSP... -> one space
        .str.replace_all(r" \n ?|\n ", "\n")
        .str.replace_all(r"\n{3,}", "\n\n")
        .str.strip_chars()
    )


# "0-255", "256-1023", ..., "65536+"
_BUCKET_LABELS = [f"{low}-{up - 1}" for low, up in pairwise((0, *LENGTH_BUCKETS))] + [f"{LENGTH_BUCKETS[-1]}+"]


def _meta_json(meta: dict) -> str:
    """orjson's text (what every meta so far was written as); msgspec for what orjson refuses but JSON
    allows, such as integers beyond 64 bits."""
    if not meta:
        return "{}"
    try:
        return orjson.dumps(meta, default=str).decode()
    except orjson.JSONEncodeError:
        text = msgspec.json.encode(meta, enc_hook=str)
        orjson.dumps(orjson.loads(text))  # what downstream's orjson cannot handle (nesting over 254) is refused
        return text.decode()


class _ShardWriter:
    """Checks sizes and meta, normalizes, assigns ids and writes batches of records; accumulates stats."""

    def __init__(
        self,
        shard: str,
        raw_writer: pq.ParquetWriter,
        quarantine_writer: pq.ParquetWriter,
        options: IngestSettings,
        stats: IngestStats,
    ) -> None:
        self.shard = shard
        self.raw_writer = raw_writer
        self.quarantine_writer = quarantine_writer
        self.options = options
        self.stats = stats
        self.id_owner: dict[str, int] = {}  # id -> line that took it
        self.content = ContentHash()

    def build_tables(self, batch: RecordBatch) -> tuple[pa.Table | None, pa.Table | None]:
        """(documents, rejects) of a batch: size limit, meta, normalization, ids and the content hash.
        Runs on one worker thread, batch after batch, so ids and the hash follow the file's order."""
        rejects = list(batch.rejects)
        self.stats.per_record_batches += not batch.fast
        batch = self._apply_size_limit(batch, rejects)
        batch, metas = self._serialize_meta(batch, rejects)
        normalized = normalize_series(batch.texts, self.options, batch.may_have_controls)
        texts = arrow_strings(normalized)  # hashed and written without passing through Python strings
        kept = self._assign_ids(batch, texts, rejects)
        self.stats.written += len(kept)
        rows = [i for i, _ in kept]
        kept_texts = texts if len(kept) == len(texts) else texts.take(rows)
        kept_ids = pa.array([doc_id for _, doc_id in kept], pa.large_string())
        self.content.update(kept_ids, kept_texts)
        chars = normalized.str.len_chars().to_numpy()[rows]
        buckets, counts = np.unique(np.searchsorted(LENGTH_BUCKETS, chars, side="right"), return_counts=True)
        labels = [_BUCKET_LABELS[b] for b in buckets]
        self.stats.length_histogram.update(dict(zip(labels, counts.tolist(), strict=True)))
        self.stats.quarantine_reasons.update(r.reason for r in rejects)
        documents = self._documents_table(batch, metas, kept_ids, kept_texts, rows) if kept else None
        return documents, self._rejects_table(rejects) if rejects else None

    def _assign_ids(
        self, batch: RecordBatch, texts: pa.LargeStringArray, rejects: list[Reject]
    ) -> list[tuple[int, str]]:
        """``(index in batch, id)`` of the documents kept, in order; blank texts and taken ids go to
        ``rejects``. A text without an id gets its digest; the same text again without one ``<digest>-<line>``."""
        offsets, _ = utf8_parts(texts)
        blank = np.diff(offsets) == 0
        missing = [i for i, given in enumerate(batch.ids) if given is None]
        ids = list(batch.ids)
        if missing:  # only texts without an id are hashed one by one
            for i, digest in zip(missing, utf8_digests(texts.take(missing)), strict=True):
                ids[i] = "" if blank[i] else digest.hex()
        id_owner = self.id_owner
        if not blank.any() and len(set(ids)) == len(ids) and id_owner.keys().isdisjoint(ids):  # common case
            id_owner.update(zip(ids, batch.lines, strict=True))
            return list(enumerate(ids))
        kept: list[tuple[int, str]] = []
        for i, (line, given_id, doc_id) in enumerate(zip(batch.lines, batch.ids, ids, strict=True)):
            if blank[i]:
                rejects.append(Reject(line, batch.raws[i], "blank_text", "empty after normalization"))
                continue
            if given_id is None and doc_id in id_owner:  # the same text again, without an id of its own
                doc_id = f"{doc_id}-{line}"
            if doc_id in id_owner:
                detail = f"id {doc_id!r} already used by line {id_owner[doc_id]}"
                rejects.append(Reject(line, batch.raws[i], "duplicate_id", detail))
                continue
            id_owner[doc_id] = line
            kept.append((i, doc_id))
        return kept

    def write_tables(self, tables: tuple[pa.Table | None, pa.Table | None]) -> None:
        documents, rejects = tables
        if documents is not None:
            self.raw_writer.write_table(documents)
            failpoint("raw_documents:batch")
        if rejects is not None:
            self.quarantine_writer.write_table(rejects)

    def _documents_table(
        self, batch: RecordBatch, metas: list[str], ids: pa.Array, texts: pa.Array, rows: list[int]
    ) -> pa.Table:
        every_row = len(rows) == len(batch)
        return pa.table(
            {
                "id": ids.cast(pa.string()),
                "text": texts.cast(pa.string()),
                "source": pa.array(batch.sources if every_row else [batch.sources[i] for i in rows], pa.string()),
                "meta": pa.array(metas if every_row else [metas[i] for i in rows], pa.string()),
                "shard": pa.repeat(pa.scalar(self.shard, pa.string()), len(rows)),
                "line": pa.array(batch.lines if every_row else [batch.lines[i] for i in rows], pa.int64()),
            },
            schema=RAW_SCHEMA,
        )

    @staticmethod
    def _serialize_meta(batch: RecordBatch, rejects: list[Reject]) -> tuple[RecordBatch, list[str]]:
        """Meta as JSON text; a record whose meta cannot be written (e.g. nested too deep) is quarantined."""
        try:  # the whole batch at once; one odd meta sends it through the per-record loop
            return batch, list(map(bytes.decode, map(partial(orjson.dumps, default=str), batch.metas)))
        except orjson.JSONEncodeError:
            pass
        keep, metas = [], []
        for i, meta in enumerate(batch.metas):
            try:
                metas.append(_meta_json(meta))
            except (orjson.JSONEncodeError, orjson.JSONDecodeError, msgspec.EncodeError) as exc:
                detail = f"'meta' cannot be serialized: {exc}"
                rejects.append(Reject(batch.lines[i], batch.raws[i], "invalid_meta", detail))
                continue
            keep.append(i)
        return batch.take(keep), metas

    def _apply_size_limit(self, batch: RecordBatch, rejects: list[Reject]) -> RecordBatch:
        limit = self.options.max_chars
        chars = batch.texts.str.len_chars()
        over = (chars > limit).arg_true()
        if over.is_empty():
            return batch
        if self.options.oversize == "truncate":
            batch.texts = batch.texts.scatter(over, batch.texts.gather(over).str.slice(0, limit))
            self.stats.truncated += len(over)
            return batch
        for i in over.to_list():
            detail = f"{chars[i]} chars > max_chars={limit}"
            rejects.append(Reject(batch.lines[i], batch.raws[i], "too_large", detail))
        dropped = set(over.to_list())
        return batch.take([i for i in range(len(batch)) if i not in dropped])

    def _rejects_table(self, rejects: list[Reject]) -> pa.Table:
        rejects.sort(key=lambda r: r.line)
        return pa.table(
            {
                "shard": [self.shard] * len(rejects),
                "line": [r.line for r in rejects],
                "reason": [r.reason for r in rejects],
                "detail": [r.detail for r in rejects],
                "raw": [r.raw for r in rejects],
            },
            schema=QUARANTINE_SCHEMA,
        )


def ingest_shard(
    source: str | os.PathLike[str],
    shard: str,
    raw_out: str | os.PathLike[str],
    quarantine_out: str | os.PathLike[str],
    options: IngestSettings | None = None,
) -> IngestStats:
    """Ingest one shard file; both outputs appear atomically, or neither changes.

    Before publishing, the row counts of both files are read back into the stats and must account for
    every record read (:attr:`IngestStats.balanced`); otherwise nothing is published.
    """
    options = options or IngestSettings()
    path = Path(source)
    stats = IngestStats()
    batches = read_batches(path, options.batch_size, stats)
    with atomic_output(raw_out) as raw_tmp, atomic_output(quarantine_out) as q_tmp:
        with (
            pq.ParquetWriter(raw_tmp, RAW_SCHEMA, compression="zstd", write_statistics=RAW_STATISTICS) as raw_writer,
            pq.ParquetWriter(q_tmp, QUARANTINE_SCHEMA, compression="zstd") as q_writer,
        ):
            writer = _ShardWriter(shard, raw_writer, q_writer, options, stats)
            _write_pipelined(batches, writer)
        if stats.read == 0:
            raise IngestError(f"{path}: no records ({stats.blank_lines} blank lines)")
        stats.content_hash = writer.content.hexdigest()
        stats.rows_in_raw, stats.rows_in_quarantine = parquet_row_count(raw_tmp), parquet_row_count(q_tmp)
        if not stats.balanced:  # checked on the files before they are published
            raise IngestError(
                f"{path}: {stats.read} records read but {stats.rows_in_raw} written "
                f"+ {stats.rows_in_quarantine} quarantined; nothing published"
            )
    return stats


def _write_pipelined(batches: Iterator[RecordBatch], writer: _ShardWriter) -> None:
    """Three stages on three threads, one batch each: parsing here (holds the GIL), building the tables
    (normalization's polars passes release it) and writing Parquet (compression releases it). Batches stay
    in file order; memory is bounded to three batches."""
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-build") as build_pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write") as write_pool,
    ):
        built: Future | None = None
        written: Future | None = None

        def hand_over() -> Future:
            tables = built.result()  # type: ignore[union-attr]
            if written is not None:
                written.result()
            return write_pool.submit(writer.write_tables, tables)

        for batch in batches:
            if built is not None:
                written = hand_over()
            built = build_pool.submit(writer.build_tables, batch)
        if built is not None:
            written = hand_over()
        if written is not None:
            written.result()


def parquet_row_count(path: str | os.PathLike[str]) -> int:
    return pq.ParquetFile(path).metadata.num_rows
