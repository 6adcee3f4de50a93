"""block_exports: one shard's token blocks in the formats training engines read (``exports/<format>/``).

Megatron's indexed dataset is a folder per shard (``exports/megatron/<shard>/text_document.{bin,idx}`` and
``export.json``), swapped in whole; the Hugging Face export is one Parquet file per shard
(``exports/hf/data/<shard>.arrow``), renamed into place, then its lineage file and the folder's dataset
card are rewritten under a lock (several shards may export at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from condpt_dagster.conditioning.blocks import BlockMeta, ShardBlocks
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.io import atomic_dir, atomic_output, atomic_write_text, exclusive_lock
from condpt_dagster.core.lake import BlockFiles, DataLake
from condpt_dagster.exports import FORMATS, hf, megatron
from condpt_dagster.exports.card import dataset_card
from condpt_dagster.exports.manifest import ExportManifest
from condpt_dagster.exports.stream import ExportError

# 2: the hf export's loss mask became bit-packed booleans (was a uint8 per token)
REVISION = "2"


@dataclass(frozen=True)
class ExportedShard:
    manifest: ExportManifest
    path: Path  # what the engine is pointed at (Megatron: the path prefix; hf: the Parquet file)


def export_shard(lake: DataLake, shard: str, formats: tuple[str, ...]) -> list[ExportedShard]:
    """Export a shard's complete blocks in each of ``formats``."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {unknown}; known: {', '.join(FORMATS)}")
    files = lake.blocks(shard)
    BlockMeta.load(files.meta)  # no blocks (or unreadable ones): said before anything is written
    writers = {"megatron": _megatron, "hf": _hf}
    return [writers[fmt](lake, files) for fmt in formats]


def _megatron(lake: DataLake, files: BlockFiles) -> ExportedShard:
    folder = lake.exports.megatron(files.shard)
    with atomic_dir(folder) as tmp:
        manifest = megatron.write_megatron(files, tmp)
    return ExportedShard(manifest, folder / megatron.PREFIX)


def _hf(lake: DataLake, files: BlockFiles) -> ExportedShard:
    exports = lake.exports
    target = exports.hf_data(files.shard)
    with atomic_output(target) as tmp:
        manifest = hf.write_hf(files, tmp)
    with exclusive_lock(exports.hf_dir / ".card.lock"):
        manifest.save(exports.hf_lineage(files.shard))
        manifests = [ExportManifest.load(p) for p in sorted(exports.hf_lineage_dir.glob("*.json"))]
        tokenizer = ConditionTokenizer(lake.tokenizer_dir)
        card = dataset_card(manifests, _example_header(files, tokenizer), tokenizer.controls)
        atomic_write_text(exports.hf_card, card)
    return ExportedShard(manifest, target)


def _example_header(files: BlockFiles, tokenizer: ConditionTokenizer) -> str | None:
    """The first document's header, decoded: where the blocks begin (the export already checked them)."""
    header_tokens = pq.read_table(files.spans, columns=["header_tokens"]).column("header_tokens")
    if len(header_tokens) == 0:
        return None
    return tokenizer.decode(ShardBlocks.open(files).tokens[0, : header_tokens[0].as_py()].tolist())
