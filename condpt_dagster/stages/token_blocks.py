"""Stage ``token_blocks``: conditioned examples -> packed token blocks with a loss mask and lineage.

The files and their schemas are the block format of ``conditioning/blocks.py``; this module packs them.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.conditioning.blocks import (
    HELDOUT_SCHEMA,
    SPANS_SCHEMA,
    BlockMeta,
    BlockStats,
    blocks_data_version,
    is_heldout,
    token_dtype,
)
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.faults import failpoint
from condpt_dagster.core.hashing import file_data_version
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.core.settings import BlocksSettings
from condpt_dagster.stages.conditioned_examples import labels_version_of

# Bump when packing changes the blocks for the same examples, tokenizer and options.
REVISION = "1"


class _Packer:
    """Cuts a stream of documents into full blocks, writing them as they fill."""

    def __init__(self, size: int, dtype: np.dtype, tokens_fh, mask_fh) -> None:
        self.size, self.dtype = size, dtype
        self.tokens_fh, self.mask_fh = tokens_fh, mask_fh
        self.pending_ids: list[np.ndarray] = []
        self.pending_mask: list[np.ndarray] = []
        self.pending = 0
        self.position = 0  # tokens emitted so far, over the whole shard
        self.blocks = 0
        self.spans: dict[str, list] = {name: [] for name in SPANS_SCHEMA.names}

    def add(self, doc_id: str, ids: np.ndarray, mask: np.ndarray, header_tokens: int) -> None:
        start = self.position + self.pending
        end = start + len(ids)
        for block in range(start // self.size, (end - 1) // self.size + 1):
            lo, hi = max(start, block * self.size), min(end, (block + 1) * self.size)
            for name, value in zip(
                SPANS_SCHEMA.names,
                (block, doc_id, lo - block * self.size, hi - block * self.size, lo - start, len(ids), header_tokens),
                strict=True,
            ):
                self.spans[name].append(value)
        self.pending_ids.append(ids)
        self.pending_mask.append(mask)
        self.pending += len(ids)
        if self.pending >= self.size:
            self._flush()

    def _flush(self) -> None:
        ids = np.concatenate(self.pending_ids) if self.pending_ids else np.zeros(0, self.dtype)
        mask = np.concatenate(self.pending_mask) if self.pending_mask else np.zeros(0, np.uint8)
        full = len(ids) // self.size * self.size
        self.tokens_fh.write(ids[:full].astype(self.dtype).tobytes())
        self.mask_fh.write(mask[:full].astype(np.uint8).tobytes())
        self.blocks += full // self.size
        self.position += full
        self.pending_ids, self.pending_mask = [ids[full:]], [mask[full:]]
        self.pending = len(ids) - full

    def finish(self, pad_id: int) -> int:
        """Write the last, padded block; return the number of padding tokens."""
        self._flush()
        if not self.pending:
            return 0
        padding = self.size - self.pending
        self.pending_ids.append(np.full(padding, pad_id, dtype=self.dtype))
        self.pending_mask.append(np.zeros(padding, dtype=np.uint8))
        self.pending += padding
        self._flush()
        return padding


def pack_shard(
    conditioned_path: str | os.PathLike[str], tokenizer: ConditionTokenizer, files: BlockFiles, options: BlocksSettings
) -> BlockStats:
    """Pack one shard's conditioned examples into ``files``; ``meta`` is written last."""
    dtype = token_dtype(tokenizer.vocab_size)
    stats = BlockStats()
    heldout_rows: dict[str, list] = {name: [] for name in HELDOUT_SCHEMA.names}
    with (
        atomic_output(files.tokens) as tok_tmp,
        atomic_output(files.mask) as mask_tmp,
        open(tok_tmp, "wb") as tokens_fh,
        open(mask_tmp, "wb") as mask_fh,
    ):
        packer = _Packer(options.block_size, dtype, tokens_fh, mask_fh)
        source = pq.ParquetFile(conditioned_path)
        for batch in source.iter_batches(batch_size=options.batch_docs, columns=["id", "header", "text"]):
            ids, headers, texts = (batch.column(c).to_pylist() for c in ("id", "header", "text"))
            encoded = tokenizer.encode_docs(headers, texts)
            for i, doc_id in enumerate(ids):
                header_ids, body_ids = encoded.header_ids[i], encoded.body_ids[i]
                if is_heldout(doc_id, options.heldout_fraction):
                    for name, value in zip(
                        HELDOUT_SCHEMA.names, (doc_id, headers[i], texts[i], header_ids, body_ids), strict=True
                    ):
                        heldout_rows[name].append(value)
                    continue
                body_ids = body_ids[: options.max_doc_tokens]  # None keeps all; else the opening, nearest the header
                doc = np.array([*header_ids, *body_ids, tokenizer.eos_id], dtype=dtype)
                mask = np.ones(len(doc), dtype=np.uint8)
                if options.mask_header:
                    mask[: len(header_ids)] = 0
                packer.add(doc_id, doc, mask, len(header_ids))
                stats.documents += 1
                stats.tokens += len(doc)
                stats.header_tokens += len(header_ids)
        stats.padding_tokens = packer.finish(tokenizer.pad_id)
        stats.blocks = packer.blocks
    stats.heldout_documents = len(heldout_rows["id"])
    with atomic_output(files.spans) as tmp:
        pq.write_table(pa.table(packer.spans, schema=SPANS_SCHEMA), tmp, compression="zstd")
    with atomic_output(files.heldout) as tmp:
        pq.write_table(pa.table(heldout_rows, schema=HELDOUT_SCHEMA), tmp, compression="zstd")
    failpoint("token_blocks:before_meta")  # tokens, mask, spans and held-out written; meta marks completion
    _meta(files, conditioned_path, tokenizer, options, dtype, stats).save(files.meta)
    return stats


def _meta(
    files: BlockFiles,
    conditioned_path: str | os.PathLike[str],
    tokenizer: ConditionTokenizer,
    options: BlocksSettings,
    dtype: np.dtype,
    stats: BlockStats,
) -> BlockMeta:
    """The meta of the files just written: shapes, special ids, lineage and the blocks' own data version."""
    return BlockMeta(
        shard=files.shard,
        block_size=options.block_size,
        dtype=dtype.name,
        n_blocks=stats.blocks,
        vocab_size=tokenizer.vocab_size,
        eos_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
        body_id=tokenizer.body_id,
        tokenizer_sha256=tokenizer.sha256,
        conditioned_data_version=file_data_version(conditioned_path),
        labels_version=labels_version_of(conditioned_path),
        data_version=blocks_data_version(files),  # tokens and spans are in place: hashed once, here
        options=options.output_settings(),
        **asdict(stats),
    )
