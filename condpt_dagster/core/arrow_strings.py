"""polars strings as Arrow bytes: for work that needs each string's UTF-8 bytes (hashing) without building a
Python string per row."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa


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
