"""Hugging Face ``datasets`` export: ``exports/hf/data/<shard>.arrow`` under a dataset card.

Arrow IPC stream files, the format ``datasets`` keeps its own data in: ``Dataset.from_file`` memory-maps one
without a copy, ``load_dataset(<folder>)`` reads them all through the card's config, ``load_dataset("arrow",
data_files=...)`` some. (Parquet was 20x slower to write here, mostly encoding, and ``load_dataset`` converts it
to Arrow anyway.) One row per condpt block, so the header loss mask and the packing travel as condpt trained
on them: ``input_ids`` (``block_size`` ids, uint16 when the vocabulary fits, else int32; the last block padded
with the pad id), ``loss_mask`` (Arrow booleans, bit-packed: true where condpt trains, false on header tokens
when ``mask_header`` is on and on padding; a byte per token would add half the ids' size to every write),
``document_ids`` and ``document_starts`` (the documents in the block and where each piece starts). The schema
metadata holds the file's lineage under ``condpt`` (also in ``lineage/<shard>.json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.exports.manifest import ExportManifest
from condpt_dagster.exports.stream import DocumentStream, document_stream, fitting_dtype

SCHEMA_KEY = b"condpt"
ROWS_PER_BATCH = 1000  # record batches of the stream file (datasets reads it batch by batch)


def write_hf(files: BlockFiles, target: Path) -> ExportManifest:
    """Write the shard's blocks as one Arrow stream file at ``target`` (a temporary path the caller publishes)."""
    stream = document_stream(files)
    meta = stream.blocks.meta
    dtype = fitting_dtype(meta.vocab_size, (np.uint16, np.int32), "hf")
    manifest = ExportManifest.of(stream, files, "hf", "block", meta.n_blocks, dtype.name)
    table = _block_table(stream, dtype)
    schema = table.schema.with_metadata({SCHEMA_KEY: json.dumps(asdict(manifest)).encode()})
    with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata), max_chunksize=ROWS_PER_BATCH)
    return manifest


def _block_table(stream: DocumentStream, dtype: np.dtype) -> pa.Table:
    meta = stream.blocks.meta
    size = meta.block_size
    ids = pa.array(np.asarray(stream.blocks.tokens, dtype=dtype).reshape(-1), pa.from_numpy_dtype(dtype))
    mask = _bit_packed(np.asarray(stream.blocks.mask).reshape(-1))
    spans = stream.spans  # read once by document_stream
    per_block = np.bincount(np.asarray(spans.column("block")), minlength=meta.n_blocks)
    offsets = pa.array(np.concatenate([[0], np.cumsum(per_block)]).astype(np.int32))
    return pa.table(
        {
            "input_ids": pa.FixedSizeListArray.from_arrays(ids, size),
            "loss_mask": pa.FixedSizeListArray.from_arrays(mask, size),
            "document_ids": pa.ListArray.from_arrays(offsets, spans.column("id").combine_chunks()),
            "document_starts": pa.ListArray.from_arrays(offsets, spans.column("start").combine_chunks()),
        }
    )


def _bit_packed(mask: np.ndarray) -> pa.BooleanArray:
    """The 0/1 mask as an Arrow boolean array (LSB-first bits, Arrow's layout) without a Python-level pass."""
    bits = np.packbits(mask, bitorder="little")  # any non-zero byte is a set bit: no bool copy first
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])
