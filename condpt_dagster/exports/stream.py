"""A shard's blocks as the document stream they were cut from: what every export writes, checked first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from condpt_dagster.conditioning.blocks import ShardBlocks
from condpt_dagster.core.lake import BlockFiles


class ExportError(ValueError):
    """Blocks that cannot be exported as asked (a vocabulary too large for the format, inconsistent files)."""


@dataclass(frozen=True)
class DocumentStream:
    """Documents (``header + <|body|> + body + <|endoftext|>``) in packing order: ``tokens`` is every packed
    token (the blocks without the last block's padding), ``lengths`` each document's share of it."""

    blocks: ShardBlocks
    tokens: np.ndarray
    ids: list[str]
    lengths: np.ndarray  # int64, one per document
    header_lengths: np.ndarray
    spans: pa.Table  # the shard's spans (block, id, start, doc_tokens, header_tokens, doc_start), read once

    @property
    def offsets(self) -> np.ndarray:
        """Where each document starts in ``tokens`` (and, last, where the stream ends)."""
        return np.concatenate([[0], np.cumsum(self.lengths)])


def document_stream(files: BlockFiles) -> DocumentStream:
    """Open a shard's blocks and recover its documents from the spans; refuse files that disagree."""
    blocks = ShardBlocks.open(files)
    meta = blocks.meta
    spans = pq.read_table(files.spans, columns=["block", "id", "start", "doc_tokens", "header_tokens", "doc_start"])
    firsts = spans.filter(pc.equal(spans.column("doc_start"), 0))  # a document's first piece starts at token 0
    ids = firsts.column("id").to_pylist()
    lengths = np.asarray(firsts.column("doc_tokens"), dtype=np.int64)
    header_lengths = np.asarray(firsts.column("header_tokens"), dtype=np.int64)
    if int(lengths.sum()) != meta.tokens or len(ids) != meta.documents or len(set(ids)) != len(ids):
        raise ExportError(
            f"{files.spans}: {len(ids)} documents of {int(lengths.sum())} tokens, but {files.meta} counts "
            f"{meta.documents} documents of {meta.tokens} tokens; rematerialize token_blocks for {files.shard!r}"
        )
    tokens = blocks.tokens.reshape(-1)[: meta.tokens]
    if len(tokens) and int(tokens.max()) >= meta.vocab_size:
        raise ExportError(f"{files.tokens}: token id {int(tokens.max())} is outside the vocabulary ({meta.vocab_size})")
    return DocumentStream(blocks, tokens, ids, lengths, header_lengths, spans)


def fitting_dtype(vocab_size: int, allowed: tuple[type[np.integer], ...], fmt: str) -> np.dtype:
    """The smallest of the format's token types that holds every id of the vocabulary; refuse if none does."""
    for dtype in allowed:
        if vocab_size - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    largest = np.dtype(allowed[-1])
    raise ExportError(
        f"a vocabulary of {vocab_size:,} tokens does not fit the {fmt} format's largest token type "
        f"({largest.name}, ids up to {np.iinfo(largest).max:,})"
    )
