"""The packed block format: what ``token_blocks`` writes and training, evaluation and the checkpoint read.

Per shard, in ``blocks/`` (paths: ``core.lake.BlockFiles``):
- ``<shard>.tokens.bin``: ``n_blocks x block_size`` token ids, uint16 when the vocabulary fits, else uint32
  (raw little-endian, memory-mappable: ``np.memmap(path, dtype, mode="r", shape=(n_blocks, block_size))``);
- ``<shard>.mask.bin``: uint8, same shape; 1 where the token is trained on. Header tokens (up to and
  including ``<|body|>``) are 0 unless ``mask_header`` is off; padding of the last block is 0;
- ``<shard>.spans.parquet`` (``SPANS_SCHEMA``): one row per (block, document) piece: ``block``, ``id``,
  ``start``/``end`` (token positions in the block), ``doc_start`` (position of ``start`` within the
  document's tokens), ``doc_tokens``, ``header_tokens`` — enough to rebuild every document from the blocks;
- ``<shard>.heldout.parquet`` (``HELDOUT_SCHEMA``): held-out documents (``id``, ``header``, ``text``,
  ``header_ids``, ``body_ids``), chosen by a hash of the id (``is_heldout``), never packed into blocks;
- ``<shard>.meta.json`` (``BlockMeta``): shapes, dtype, counts, the tokenizer's sha256 and lineage (the
  conditioned file's data version, the labeler_version its headers came from, and the blocks' own data
  version); written last, so its presence means the other files are complete.

Documents are ``header ids + <|body|> + body ids + <|endoftext|>``, concatenated in document order and cut
into blocks; a document may span several blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from condpt_dagster.core.hashing import file_sha256, unit_hash
from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.core.records import load_record, save_record

SPANS_SCHEMA = pa.schema(
    [
        ("block", pa.int64()),
        ("id", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("doc_start", pa.int32()),
        ("doc_tokens", pa.int32()),
        ("header_tokens", pa.int32()),
    ]
)


HELDOUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("header", pa.string()),
        ("text", pa.string()),
        ("header_ids", pa.list_(pa.int32())),
        ("body_ids", pa.list_(pa.int32())),
    ]
)


def is_heldout(doc_id: str, fraction: float) -> bool:
    return unit_hash("heldout", doc_id) < fraction


def blocks_data_version(files: BlockFiles) -> str:
    """Content hash of a shard's blocks (tokens and spans): the token_blocks partition's data version."""
    return file_sha256(files.tokens)[:16] + file_sha256(files.spans)[:16]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


@dataclass
class BlockStats:
    """What packing a shard counted (the last fields of its meta file)."""

    documents: int = 0
    heldout_documents: int = 0
    blocks: int = 0
    tokens: int = 0  # document tokens packed (without padding)
    header_tokens: int = 0
    padding_tokens: int = 0


@dataclass(kw_only=True)
class BlockMeta(BlockStats):
    """``<shard>.meta.json``: one shard's block shapes, special ids and lineage, and what packing counted."""

    shard: str
    block_size: int
    dtype: str
    n_blocks: int
    vocab_size: int
    eos_id: int
    pad_id: int
    body_id: int
    tokenizer_sha256: str
    conditioned_data_version: str | None = None
    labels_version: str | None = None  # the labeler_version the headers were built from
    data_version: str | None = None  # blocks_data_version of the files it describes (None: packed before it was kept)
    options: dict[str, Any] = field(default_factory=dict)  # the BlocksSettings that shaped the output

    @classmethod
    def load(cls, path: Path) -> BlockMeta:
        """Read and check one meta file; a missing file means the shard has no complete blocks."""
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no blocks for this shard; materialize token_blocks")
        return load_record(path, cls, "a block meta file")

    def save(self, path: Path) -> None:
        save_record(path, self)


@dataclass(frozen=True)
class ShardBlocks:
    """Memory-mapped view of one shard's blocks."""

    meta: BlockMeta
    tokens: np.memmap
    mask: np.memmap

    @classmethod
    def open(cls, files: BlockFiles) -> ShardBlocks:
        if not files.meta.is_file():
            raise FileNotFoundError(f"{files.meta}: no blocks for shard {files.shard!r}; materialize token_blocks")
        meta = BlockMeta.load(files.meta)
        shape = (meta.n_blocks, meta.block_size)
        if meta.n_blocks == 0:
            empty = np.zeros(shape, dtype=meta.dtype)
            return cls(meta, empty, empty.astype(np.uint8))  # type: ignore[arg-type]
        tokens = np.memmap(files.tokens, dtype=meta.dtype, mode="r", shape=shape)
        mask = np.memmap(files.mask, dtype=np.uint8, mode="r", shape=shape)
        return cls(meta, tokens, mask)
