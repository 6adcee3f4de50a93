"""Reading a shard file in batches: JSONL (plain, gzip, zstd) or Parquet, each record checked.

Every record read ends up in a :class:`RecordBatch`, either among its usable records (columns) or as a
:class:`Reject` (with its line, reason and exact bytes). A JSONL batch is first decoded whole (msgspec
checks fields and types in C, polars decodes the texts into a column); only a batch holding a bad record
goes through the per-line path, which finds and explains it. Problems with the file itself (unknown
extension, empty file, truncated compressed stream, Parquet without ``text``) raise :class:`IngestError`
naming the file and how far reading got.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from condpt_dagster.core.lake import SUPPORTED_EXTENSIONS, shard_extension

_BOM = b"\xef\xbb\xbf"
_READ_BLOCK = 1 << 22  # bytes per read, split at newlines into lines
_CORE_FIELDS = ("id", "text", "source", "meta")
_CONTROL_ESCAPE = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bf])")


class IngestError(ValueError):
    """The shard file itself cannot be read; the message names the file and how far reading got."""


@dataclass
class ReadCounts:
    read: int = 0  # records read (blank lines are not records; they are counted separately)
    blank_lines: int = 0


@dataclass
class Candidate:
    line: int
    raw: bytes
    id: str | None
    text: str
    source: str
    meta: dict[str, Any]


@dataclass
class Reject:
    line: int
    raw: bytes
    reason: str
    detail: str


@dataclass
class RecordBatch:
    """The usable records of a batch as columns (``ids`` None where absent; texts as a polars String
    Series, so the big column never has to pass through Python strings), and its rejects."""

    lines: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    texts: pl.Series = field(default_factory=lambda: pl.Series("text", [], dtype=pl.String))
    sources: list[str] = field(default_factory=list)
    metas: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    fast: bool = False  # parsed whole, no record needed the per-line path
    # Per record: can its text hold a control character? None: unknown (check every text). In JSON a control
    # character must be escaped, so a line without a \u00.., \u007f, \b or \f escape has none.
    may_have_controls: list[bool] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    @classmethod
    def from_records(cls, records: list[Candidate | Reject]) -> RecordBatch:
        batch, texts = cls(), []
        for record in records:
            if isinstance(record, Reject):
                batch.rejects.append(record)
                continue
            batch.lines.append(record.line)
            batch.raws.append(record.raw)
            batch.ids.append(record.id)
            texts.append(record.text)
            batch.sources.append(record.source)
            batch.metas.append(record.meta)
        batch.texts = pl.Series("text", texts, dtype=pl.String)
        return batch

    def take(self, keep: list[int]) -> RecordBatch:
        """The records at ``keep`` (rejects carried over)."""
        columns = (self.lines, self.raws, self.ids, self.sources, self.metas)
        lines, raws, ids, sources, metas = ([column[i] for i in keep] for column in columns)
        controls = None if self.may_have_controls is None else [self.may_have_controls[i] for i in keep]
        texts = self.texts.gather(keep)
        return RecordBatch(lines, raws, ids, texts, sources, metas, self.rejects, self.fast, controls)


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


def _jsonl_lines(path: Path, ext: str, stats: ReadCounts, batch_size: int) -> Iterator[list[tuple[int, bytes, bool]]]:
    """Batches of ``batch_size`` (line number, body, ended with a newline); blank lines are counted, not
    returned. The file is read in large blocks split at newlines (C speed), not line by line."""
    line_no, batch, tail = 0, [], b""
    with _open_binary(path, ext) as fh:
        try:
            while block := fh.read(_READ_BLOCK):
                lines = (tail + block).split(b"\n")
                tail = lines.pop()  # the unfinished last line waits for the next block
                if line_no == 0 and lines:
                    lines[0] = lines[0].removeprefix(_BOM)
                for number, raw in enumerate(lines, start=line_no + 1):
                    body = raw.rstrip(b"\r\n")
                    if not body or body.isspace():
                        stats.blank_lines += 1
                        continue
                    batch.append((number, body, True))
                line_no += len(lines)
                while len(batch) >= batch_size:
                    stats.read += batch_size
                    yield batch[:batch_size]
                    batch = batch[batch_size:]
        except (EOFError, OSError, zstandard.ZstdError) as exc:
            raise IngestError(
                f"{path}: compressed stream is truncated or corrupt after line {line_no} "
                f"({stats.read + len(batch)} records read): {exc}"
            ) from exc
    if tail:
        line_no += 1
        body = (tail.removeprefix(_BOM) if line_no == 1 else tail).rstrip(b"\r\n")
        if not body or body.isspace():
            stats.blank_lines += 1
        else:
            batch.append((line_no, body, False))
    if batch:
        stats.read += len(batch)
        yield batch


class _PlainRecord(msgspec.Struct, forbid_unknown_fields=True):
    """A record the fast path takes as it is: only the core fields, each of its plain type (the decoder
    checks that in C; bool is not accepted as int). The text stays raw JSON (checked, not decoded)."""

    text: msgspec.Raw
    id: str | int | None = None
    source: str | None = None
    meta: dict[str, Any] | None = None


_decode_plain = msgspec.json.Decoder(_PlainRecord).decode
_decode_any = msgspec.json.Decoder().decode  # the per-line path: same JSON grammar as the fast path
_QUOTE = ord('"')
_TEXT_ONLY = {"text": pl.String}
# What str.isspace() calls whitespace (blank texts are rejected by the same rule on both paths); Rust's
# whitespace, which polars strips by default, lacks the separators U+001C-U+001F.
PY_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


def _fast_batch(lines: list[tuple[int, bytes, bool]]) -> RecordBatch | None:
    """The whole batch at once, or None when any record is not a plain valid one (the per-line path then
    finds it): every line a JSON object with only id/text/source/meta, a non-blank string text, an id that
    is a non-blank string or an integer, a string source and an object meta when present.

    msgspec checks each record's structure and types without decoding its text; the texts are then decoded
    by polars' JSON reader straight into a String column (no Python string per text)."""
    bodies = [body for _, body, _ in lines]
    try:
        records = list(map(_decode_plain, bodies))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # the per-line path says which and why
        return None
    ids = [r.id for r in records]
    string_ids = [i for i in ids if type(i) is str]
    text_is_string = {memoryview(r.text)[0] for r in records} == {_QUOTE}  # a raw JSON string starts with '"'
    if not text_is_string or not all(string_ids) or any(map(str.isspace, string_ids)):
        return None
    try:  # the raw text was only checked as JSON; invalid UTF-8 inside it is found here
        texts = pl.read_ndjson(io.BytesIO(b"\n".join(bodies)), schema=_TEXT_ONLY)["text"]
    except pl.exceptions.PolarsError:
        return None
    if len(texts) != len(bodies) or texts.null_count() or (texts.str.strip_chars(PY_WHITESPACE) == "").any():
        return None
    return RecordBatch(
        lines=[line for line, _, _ in lines],
        raws=bodies,
        ids=[i if i is None or type(i) is str else str(i) for i in ids],
        texts=texts,
        sources=[r.source or "unknown" for r in records],
        metas=[r.meta or {} for r in records],
        fast=True,
        may_have_controls=[_CONTROL_ESCAPE.search(body) is not None for body in bodies],
    )


def _jsonl_batches(path: Path, ext: str, stats: ReadCounts, batch_size: int) -> Iterator[RecordBatch]:
    for lines in _jsonl_lines(path, ext, stats, batch_size):
        batch = _fast_batch(lines)
        yield batch if batch is not None else RecordBatch.from_records([_parse_json_line(*line) for line in lines])


def _parse_json_line(line_no: int, body: bytes, has_newline: bool) -> Candidate | Reject:
    try:
        value = _decode_any(body)
    except RecursionError:  # msgspec decodes nesting recursively: ~1,000 levels exhaust the stack
        return Reject(line_no, body, "invalid_json", "nested too deep to decode (recursion limit)")
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return Reject(line_no, body, "invalid_utf8", f"byte {uexc.start}: {uexc.reason}")
        reason = "invalid_json" if has_newline else "truncated_last_line"
        return Reject(line_no, body, reason, str(exc))
    return _validate(line_no, body, value)


def _validate(line_no: int, raw: bytes, value: Any) -> Candidate | Reject:
    if not isinstance(value, dict):
        return Reject(line_no, raw, "not_an_object", f"record is a JSON {type(value).__name__}")
    if "text" not in value or value["text"] is None:
        return Reject(line_no, raw, "missing_text", "no 'text' field")
    text = value["text"]
    if not isinstance(text, str):
        return Reject(line_no, raw, "non_string_text", f"'text' is a {type(text).__name__}")
    if not text.strip():
        return Reject(line_no, raw, "blank_text", "'text' is empty or whitespace")
    doc_id = value.get("id")
    if doc_id is not None:
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            return Reject(line_no, raw, "invalid_id", f"'id' is a {type(doc_id).__name__}")
        doc_id = str(doc_id)
        if not doc_id.strip():
            return Reject(line_no, raw, "invalid_id", "'id' is blank")
    source = value.get("source")
    if source is not None and not isinstance(source, str):
        return Reject(line_no, raw, "invalid_source", f"'source' is a {type(source).__name__}")
    meta = value.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        return Reject(line_no, raw, "invalid_meta", f"'meta' is a {type(meta).__name__}, not an object")
    extra = {k: v for k, v in value.items() if k not in _CORE_FIELDS}
    if extra:  # Dolma's `added`, `created`, `metadata`, ...: kept, never dropped
        meta = {**meta, **extra}
    return Candidate(line_no, raw, doc_id, text, source or "unknown", meta)


def _parquet_batches(path: Path, batch_size: int, stats: ReadCounts) -> Iterator[RecordBatch]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    if "text" not in names:
        raise IngestError(f"{path}: Parquet file has no 'text' column (columns: {', '.join(names) or 'none'})")
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        records = []
        for record in batch.to_pylist():
            row += 1
            stats.read += 1
            records.append(_validate(row, orjson.dumps(record, default=str), record))
        yield RecordBatch.from_records(records)


def read_batches(path: Path, batch_size: int, stats: ReadCounts) -> Iterator[RecordBatch]:
    """Every record of a shard file, in order, in batches; ``stats`` counts records and blank lines."""
    ext = shard_extension(path)
    if ext is None:
        raise IngestError(f"{path}: unsupported file type; supported extensions are {', '.join(SUPPORTED_EXTENSIONS)}")
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty (0 bytes)")
    if ext == ".parquet":
        return _parquet_batches(path, batch_size, stats)
    return _jsonl_batches(path, ext, stats, batch_size)


def has_records(path: Path, ext: str) -> bool:
    """Whether a shard file (named by ``ext``, its extension) holds at least one non-blank line or Parquet
    row; a corrupt file raises IngestError. Reads only up to the first non-blank byte of a JSONL file."""
    try:
        if ext == ".parquet":
            return pq.ParquetFile(path).metadata.num_rows > 0
        with _open_binary(path, ext) as fh:
            while block := fh.read(1 << 16):
                if block.removeprefix(_BOM).strip():
                    return True
    except (EOFError, OSError, zstandard.ZstdError, pa.ArrowInvalid) as exc:
        raise IngestError(f"{path}: not a readable {ext} file: {exc}") from exc
    return False
