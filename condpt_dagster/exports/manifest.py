"""``export.json``: what one exported shard holds and where its tokens came from, typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from condpt_dagster.conditioning.blocks import blocks_data_version
from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.core.records import load_record, save_record
from condpt_dagster.exports.stream import DocumentStream


@dataclass(frozen=True, kw_only=True)
class ExportManifest:
    format: str
    shard: str
    unit: str  # what one engine sequence / row is: "document" or "block"
    sequences: int
    documents: int
    tokens: int
    dtype: str
    vocab_size: int
    block_size: int
    tokenizer_sha256: str
    blocks_data_version: str  # token_blocks' data version of the shard: the export is stale when it moves
    labels_version: str | None
    conditioned_data_version: str | None
    mask_header: bool  # whether condpt's blocks leave header tokens out of the loss

    @classmethod
    def of(cls, stream: DocumentStream, files: BlockFiles, fmt: str, unit: str, sequences: int, dtype: str):
        meta = stream.blocks.meta
        return cls(
            format=fmt,
            shard=meta.shard,
            unit=unit,
            sequences=sequences,
            documents=len(stream.ids),
            tokens=len(stream.tokens),
            dtype=dtype,
            vocab_size=meta.vocab_size,
            block_size=meta.block_size,
            tokenizer_sha256=meta.tokenizer_sha256,
            blocks_data_version=meta.data_version or blocks_data_version(files),
            labels_version=meta.labels_version,
            conditioned_data_version=meta.conditioned_data_version,
            mask_header=bool(meta.options.get("mask_header", True)),
        )

    @classmethod
    def load(cls, path: Path) -> ExportManifest:
        return load_record(path, cls, "an export manifest")

    def save(self, path: Path) -> None:
        save_record(path, self)
