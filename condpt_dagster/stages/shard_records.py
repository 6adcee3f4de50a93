"""Reading a shard file record by record: JSONL (plain, gzip, zstd) or Parquet, each record checked.

Every record read becomes a :class:`Candidate` (usable) or a :class:`Reject` (with its line, reason and exact
bytes). Problems with the file itself (unknown extension, empty file, truncated compressed stream, Parquet
without ``text``) raise :class:`IngestError` naming the file and how far reading got.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from condpt_dagster.core.lake import SUPPORTED_EXTENSIONS, shard_extension

_BOM = b"\xef\xbb\xbf"
_CORE_FIELDS = ("id", "text", "source", "meta")


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
    meta_json: str = "{}"  # set by the writer, which quarantines a meta it cannot serialize


@dataclass
class Reject:
    line: int
    raw: bytes
    reason: str
    detail: str


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


def _jsonl_records(path: Path, ext: str, stats: ReadCounts) -> Iterator[Candidate | Reject]:
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


def _parse_json_line(line_no: int, body: bytes, has_newline: bool) -> Candidate | Reject:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
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


def _parquet_records(path: Path, batch_size: int, stats: ReadCounts) -> Iterator[Candidate | Reject]:
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


def read_records(path: Path, batch_size: int, stats: ReadCounts) -> Iterator[Candidate | Reject]:
    """Every record of a shard file, in order; ``stats`` counts records and blank lines as they are read."""
    ext = shard_extension(path)
    if ext is None:
        raise IngestError(f"{path}: unsupported file type; supported extensions are {', '.join(SUPPORTED_EXTENSIONS)}")
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty (0 bytes)")
    if ext == ".parquet":
        return _parquet_records(path, batch_size, stats)
    return _jsonl_records(path, ext, stats)
