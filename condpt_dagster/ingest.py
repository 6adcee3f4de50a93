"""Stage 1: raw shard -> normalized documents (``raw/<shard>.parquet``) + rejects (``quarantine/<shard>.parquet``).

Input is Dolma/RedPajama-shaped records (``id``, ``text``, ``source``, ``meta``; other top-level fields are
kept inside ``meta``) in ``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` or ``.parquet``. The shard is streamed in
batches, so memory does not grow with its size. Per-record checks run in Python (orjson); text
normalization runs vectorized in polars.

Every record read ends up in exactly one place: written, dropped as an exact duplicate (counted), or
quarantined with its line number, reason and raw bytes. Problems with the file itself (unknown extension,
empty file, truncated compressed stream, Parquet without ``text``) raise :class:`IngestError`.

Output schemas
    raw:         id str, text str, source str, meta str (JSON object), shard str, line int64
    quarantine:  shard str, line int64, reason str, detail str, raw binary
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from condpt_dagster.lake import SUPPORTED_EXTENSIONS, atomic_output

# Bump when the ingestion logic changes its output for the same input and options.
INGEST_REVISION = "1"

RAW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("meta", pa.string()),
        ("shard", pa.string()),
        ("line", pa.int64()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.binary()),
    ]
)
LENGTH_BUCKETS = (256, 1024, 4096, 16384, 65536)  # upper bounds in characters; the last bucket is open
_BOM = b"\xef\xbb\xbf"
_CORE_FIELDS = ("id", "text", "source", "meta")


class IngestError(ValueError):
    """The shard file itself cannot be read; the message names the file and how far reading got."""


@dataclass(frozen=True)
class IngestOptions:
    """Everything that determines ingestion output; :meth:`version` is the asset's code version."""

    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    strip_html: bool = True  # <br /> -> newline, common inline tags removed, entities decoded
    normalize_whitespace: bool = True  # CRLF -> LF, runs of spaces -> one, at most one blank line
    max_chars: int = 1_000_000  # records longer than this (before normalization) are ...
    oversize: Literal["quarantine", "truncate"] = "quarantine"  # ... quarantined whole, or cut to max_chars
    batch_size: int = 4096

    def version(self) -> str:
        settings = {k: v for k, v in asdict(self).items() if k != "batch_size"}
        blob = json.dumps({"revision": INGEST_REVISION, **settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class IngestStats:
    read: int = 0  # records read (blank lines are not records; they are counted separately)
    written: int = 0
    duplicates: int = 0  # exact duplicates of an earlier document's normalized text
    truncated: int = 0  # over max_chars and cut (oversize="truncate")
    blank_lines: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    length_histogram: Counter[str] = field(default_factory=Counter)
    content_hash: str = ""  # hash of (id, text) of every written document, in order

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())

    def ordered_length_histogram(self) -> dict[str, int]:
        """Document counts per length bucket, shortest bucket first, empty buckets included."""
        labels = [_length_bucket(lower) for lower in (0, *LENGTH_BUCKETS)]
        return {label: self.length_histogram.get(label, 0) for label in labels}


@dataclass
class _Candidate:
    line: int
    raw: bytes
    id: str | None
    text: str
    source: str
    meta: dict[str, Any]


@dataclass
class _Reject:
    line: int
    raw: bytes
    reason: str
    detail: str


# ---------------------------------------------------------------------------------------------- reading


class _ZstdRaw(io.RawIOBase):
    """Decompresses a (possibly multi-frame) zstd file and raises if the last frame is cut short.

    ``zstandard.open`` silently stops at a truncated stream, which would lose the tail of a shard.
    """

    def __init__(self, fh: io.BufferedReader) -> None:
        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._pending = b""
        self.compressed_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._fh.read(1 << 17)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd stream ended before the end of its last frame")
                return 0
            self.compressed_read += len(chunk)
            self._feed(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            self._in_frame = True
            out.append(self._obj.decompress(chunk))
            if not self._obj.eof:
                break
            self._in_frame = False
            chunk = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
        self._pending += b"".join(out)


def _open_binary(path: Path, ext: str) -> io.BufferedIOBase:
    if ext == ".jsonl":
        return open(path, "rb")
    if ext == ".jsonl.gz":
        return gzip.open(path, "rb")
    return io.BufferedReader(_ZstdRaw(open(path, "rb")), buffer_size=1 << 20)


def _jsonl_records(path: Path, ext: str, stats: IngestStats) -> Iterator[_Candidate | _Reject]:
    line_no = 0
    with _open_binary(path, ext) as fh:
        try:
            for line_no, raw in enumerate(fh, start=1):
                if line_no == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                has_newline = raw.endswith(b"\n")
                body = raw.rstrip(b"\r\n")
                if not body.strip():
                    stats.blank_lines += 1
                    continue
                stats.read += 1
                yield _parse_json_line(line_no, body, has_newline)
        except (EOFError, OSError, zstandard.ZstdError) as exc:
            raise IngestError(
                f"{path}: compressed stream is truncated or corrupt after line {line_no} "
                f"({stats.read} records read): {exc}"
            ) from exc


def _parse_json_line(line_no: int, body: bytes, has_newline: bool) -> _Candidate | _Reject:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return _Reject(line_no, body, "invalid_utf8", f"byte {uexc.start}: {uexc.reason}")
        reason = "invalid_json" if has_newline else "truncated_last_line"
        return _Reject(line_no, body, reason, str(exc))
    return _validate(line_no, body, value)


def _validate(line_no: int, raw: bytes, value: Any) -> _Candidate | _Reject:
    if not isinstance(value, dict):
        return _Reject(line_no, raw, "not_an_object", f"record is a JSON {type(value).__name__}")
    if "text" not in value or value["text"] is None:
        return _Reject(line_no, raw, "missing_text", "no 'text' field")
    text = value["text"]
    if not isinstance(text, str):
        return _Reject(line_no, raw, "non_string_text", f"'text' is a {type(text).__name__}")
    if not text.strip():
        return _Reject(line_no, raw, "blank_text", "'text' is empty or whitespace")
    doc_id = value.get("id")
    if doc_id is not None:
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            return _Reject(line_no, raw, "invalid_id", f"'id' is a {type(doc_id).__name__}")
        doc_id = str(doc_id)
        if not doc_id.strip():
            return _Reject(line_no, raw, "invalid_id", "'id' is blank")
    source = value.get("source")
    if source is not None and not isinstance(source, str):
        return _Reject(line_no, raw, "invalid_source", f"'source' is a {type(source).__name__}")
    meta = value.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        return _Reject(line_no, raw, "invalid_meta", f"'meta' is a {type(meta).__name__}, not an object")
    extra = {k: v for k, v in value.items() if k not in _CORE_FIELDS}
    if extra:  # Dolma's `added`, `created`, `metadata`, ...: kept, never dropped
        meta = {**meta, **extra}
    return _Candidate(line_no, raw, doc_id, text, source or "unknown", meta)


def _parquet_records(path: Path, batch_size: int, stats: IngestStats) -> Iterator[_Candidate | _Reject]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    if "text" not in names:
        raise IngestError(f"{path}: Parquet file has no 'text' column (columns: {', '.join(names) or 'none'})")
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for record in batch.to_pylist():
            row += 1
            stats.read += 1
            raw = orjson.dumps(record, default=str)
            yield _validate(row, raw, record)


def _records(path: Path, options: IngestOptions, stats: IngestStats) -> Iterator[_Candidate | _Reject]:
    name = path.name
    ext = next((e for e in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True) if name.endswith(e)), None)
    if ext is None:
        raise IngestError(f"{path}: unsupported file type; supported extensions are {', '.join(SUPPORTED_EXTENSIONS)}")
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty (0 bytes)")
    if ext == ".parquet":
        return _parquet_records(path, options.batch_size, stats)
    return _jsonl_records(path, ext, stats)


# ------------------------------------------------------------------------------------------ normalizing


def normalize_texts(texts: list[str], options: IngestOptions) -> list[str]:
    """Normalize a batch of texts; the result may be empty for markup-only input.

    Regex passes run vectorized in polars; patterns are written to match only what changes (a single
    space is never "replaced" by a space), which keeps each pass near memory speed. Unicode
    normalization uses ``unicodedata``, whose quick check skips already-normalized text.
    """
    if options.unicode_form:
        texts = [unicodedata.normalize(options.unicode_form, text) for text in texts]
    s = pl.Series("text", texts, dtype=pl.String)
    # NUL and other C0 control characters (except tab/newline/CR) never belong in text.
    s = s.str.replace_all(r"(?-u)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "")
    if options.strip_html:
        s = s.str.replace_all(r"(?i)<br\s*/?>", "\n")
        s = s.str.replace_all(r"(?i)</?(?:p|div|span|i|b|u|em|strong|font|center)(?:\s[^<>]*)?>", "")
        needs_unescape = s.str.contains(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+\d*);")
        if needs_unescape.any():  # full HTML5 entity table, only for the rows that need it
            s = pl.select(
                pl.when(needs_unescape).then(s.map_elements(html.unescape, return_dtype=pl.String)).otherwise(s)
            ).to_series()
    if options.normalize_whitespace:
        s = (
            s.str.replace_all(r"\r\n?", "\n")
            .str.replace_all(r"[^\S\n]{2,}|[^\S \n]", " ")  # runs of spaces, tabs, NBSP... -> one space
            .str.replace_all(r" \n ?|\n ", "\n")
            .str.replace_all(r"\n{3,}", "\n\n")
            .str.strip_chars()
        )
    return s.to_list()


def _length_bucket(n_chars: int) -> str:
    lower = 0
    for upper in LENGTH_BUCKETS:
        if n_chars < upper:
            return f"{lower}-{upper - 1}"
        lower = upper
    return f"{lower}+"


# --------------------------------------------------------------------------------------------- writing


class _ShardWriter:
    """Dedups, assigns ids and writes batches of candidates; accumulates stats."""

    def __init__(
        self,
        shard: str,
        raw_writer: pq.ParquetWriter,
        quarantine_writer: pq.ParquetWriter,
        options: IngestOptions,
        stats: IngestStats,
    ) -> None:
        self.shard = shard
        self.raw_writer = raw_writer
        self.quarantine_writer = quarantine_writer
        self.options = options
        self.stats = stats
        self.text_hashes: set[bytes] = set()
        self.id_owner: set[str] = set()
        self.content = hashlib.blake2b(digest_size=16)

    def write_batch(self, batch: list[_Candidate | _Reject]) -> None:
        rejects = [r for r in batch if isinstance(r, _Reject)]
        candidates = [c for c in batch if isinstance(c, _Candidate)]
        candidates = self._apply_size_limit(candidates, rejects)
        texts = normalize_texts([c.text for c in candidates], self.options) if candidates else []
        kept: list[tuple[_Candidate, str, str]] = []
        blake2b, seen, id_owner = hashlib.blake2b, self.text_hashes, self.id_owner
        for cand, text in zip(candidates, texts, strict=True):
            if not text:
                rejects.append(_Reject(cand.line, cand.raw, "blank_text", "empty after normalization"))
                continue
            digest = blake2b(text.encode("utf-8"), digest_size=16).digest()
            if digest in seen:
                self.stats.duplicates += 1
                continue
            doc_id = cand.id or digest.hex()
            if doc_id in id_owner:
                detail = f"id {doc_id!r} already used by a different text"
                rejects.append(_Reject(cand.line, cand.raw, "duplicate_id", detail))
                continue
            seen.add(digest)
            id_owner.add(doc_id)
            self.content.update(doc_id.encode("utf-8") + b"\0" + digest)
            kept.append((cand, doc_id, text))
        if kept:
            table = pa.table(
                {
                    "id": [doc_id for _, doc_id, _ in kept],
                    "text": [text for _, _, text in kept],
                    "source": [c.source for c, _, _ in kept],
                    "meta": [orjson.dumps(c.meta, default=str).decode() if c.meta else "{}" for c, _, _ in kept],
                    "shard": [self.shard] * len(kept),
                    "line": [c.line for c, _, _ in kept],
                },
                schema=RAW_SCHEMA,
            )
            self.raw_writer.write_table(table)
            self.stats.written += len(kept)
            self.stats.length_histogram.update(_length_bucket(len(text)) for _, _, text in kept)
        if rejects:
            self._write_rejects(rejects)

    def _apply_size_limit(self, candidates: list[_Candidate], rejects: list[_Reject]) -> list[_Candidate]:
        limit = self.options.max_chars
        kept = []
        for cand in candidates:
            if len(cand.text) > limit:
                if self.options.oversize == "quarantine":
                    detail = f"{len(cand.text)} chars > max_chars={limit}"
                    rejects.append(_Reject(cand.line, cand.raw, "too_large", detail))
                    continue
                cand.text = cand.text[:limit]
                self.stats.truncated += 1
            kept.append(cand)
        return kept

    def _write_rejects(self, rejects: list[_Reject]) -> None:
        rejects.sort(key=lambda r: r.line)
        self.quarantine_writer.write_table(
            pa.table(
                {
                    "shard": [self.shard] * len(rejects),
                    "line": [r.line for r in rejects],
                    "reason": [r.reason for r in rejects],
                    "detail": [r.detail for r in rejects],
                    "raw": [r.raw for r in rejects],
                },
                schema=QUARANTINE_SCHEMA,
            )
        )
        self.stats.quarantine_reasons.update(r.reason for r in rejects)


def ingest_shard(
    source: str | os.PathLike[str],
    shard: str,
    raw_out: str | os.PathLike[str],
    quarantine_out: str | os.PathLike[str],
    options: IngestOptions | None = None,
) -> IngestStats:
    """Ingest one shard file; both outputs appear atomically, or neither changes."""
    options = options or IngestOptions()
    path = Path(source)
    stats = IngestStats()
    records = _records(path, options, stats)
    with atomic_output(raw_out) as raw_tmp, atomic_output(quarantine_out) as q_tmp:
        with (
            pq.ParquetWriter(raw_tmp, RAW_SCHEMA, compression="zstd") as raw_writer,
            pq.ParquetWriter(q_tmp, QUARANTINE_SCHEMA, compression="zstd") as q_writer,
        ):
            writer = _ShardWriter(shard, raw_writer, q_writer, options, stats)
            # Parsing holds the GIL; normalizing and Parquet writing mostly do not. One batch in flight
            # on a worker thread overlaps them on two cores while keeping memory to two batches.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as pool:
                pending: Future[None] | None = None
                batch: list[_Candidate | _Reject] = []
                for record in records:
                    batch.append(record)
                    if len(batch) >= options.batch_size:
                        if pending is not None:
                            pending.result()
                        pending, batch = pool.submit(writer.write_batch, batch), []
                if pending is not None:
                    pending.result()
                if batch:
                    writer.write_batch(batch)
        if stats.read == 0:
            raise IngestError(f"{path}: no records ({stats.blank_lines} blank lines)")
        stats.content_hash = writer.content.hexdigest()
    return stats


def parquet_row_count(path: str | os.PathLike[str]) -> int:
    return pq.ParquetFile(path).metadata.num_rows
