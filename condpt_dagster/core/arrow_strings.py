"""polars strings as Arrow bytes, and hashes read straight from them: for work that needs each string's UTF-8
bytes without building a Python string per row."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash


def arrow_strings(series: pl.Series) -> pa.LargeStringArray:
    """One Arrow large_string array; the oldest Arrow layout converts from polars' string views cheaply
    (about 15x faster than the default export on 100 MB of text)."""
    return series.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())


def utf8_parts(strings: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)``: string i is ``data[offsets[i]:offsets[i + 1]]`` (UTF-8 bytes); offsets start at 0."""
    _, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def utf8_digests(texts: pa.LargeStringArray) -> list[bytes]:
    """blake2b-128 of each text's UTF-8 bytes, read where Arrow holds them (no Python string per text)."""
    offsets, data = utf8_parts(texts)
    view, blake2b = memoryview(data), hashlib.blake2b
    return [blake2b(view[begin:end], digest_size=16).digest() for begin, end in pairwise(offsets.tolist())]


class ContentHash:
    """Hash of the sequence of (id, text) written, the same however it was batched: lengths, id bytes and
    text bytes are three separate streams (each batch appends to all three), combined at the end. xxh3:
    a fingerprint for data versions, not a defence against crafted collisions."""

    def __init__(self) -> None:
        self._lengths, self._ids, self._texts = xxhash.xxh3_128(), xxhash.xxh3_128(), xxhash.xxh3_128()

    def update(self, ids: pa.LargeStringArray, texts: pa.LargeStringArray) -> None:
        id_offsets, id_bytes = utf8_parts(ids)
        text_offsets, text_bytes = utf8_parts(texts)
        self._lengths.update(np.stack([np.diff(id_offsets), np.diff(text_offsets)], axis=1).astype("<i8").tobytes())
        self._ids.update(id_bytes)
        self._texts.update(text_bytes)

    def hexdigest(self) -> str:
        streams = self._lengths.digest() + self._ids.digest() + self._texts.digest()
        return xxhash.xxh3_128_hexdigest(streams)
