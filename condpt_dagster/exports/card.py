"""The dataset card (``README.md``) of the Hugging Face export: how to load and prompt it, and its lineage.

Everything that comes from data (the example header, shard names, versions) goes through ``core.markdown``.
"""

from __future__ import annotations

from condpt_dagster.core.markdown import cell, code, fenced
from condpt_dagster.exports.manifest import ExportManifest

CARD_HEADER = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/*.arrow
tags:
- condpt
- conditional-pretraining
---
"""


def dataset_card(manifests: list[ExportManifest], example_header: str | None, controls: list[str]) -> str:
    """The card for every exported shard (``manifests``), an example header and the control tokens."""
    blocks = sum(m.sequences for m in manifests)
    tokens = sum(m.tokens for m in manifests)
    masked = {m.mask_header for m in manifests}
    lines = [
        CARD_HEADER,
        "# condpt conditional-pretraining corpus",
        "",
        f"{len(manifests)} shard(s), {blocks:,} blocks, {tokens:,} document tokens, exported by condpt's "
        "`block_exports` asset. Every document is `header <|body|> text <|endoftext|>`: the header holds the "
        "labels condpt's labeler gave the document, so a model trained on it can be steered by writing the "
        "labels wanted in front of a prompt.",
        "",
        "## Load",
        "",
        fenced(
            'from datasets import Dataset, load_dataset\n\nblocks = load_dataset("<this folder>", split="train")\n'
            'one_shard = Dataset.from_file("<this folder>/data/<shard>.arrow")  # memory-mapped, no copy',
            "python",
        ),
        "",
        "Columns: `input_ids` (one block), `loss_mask` (booleans, true where condpt trains"
        + (": false on header tokens" if masked == {True} else "")
        + " and on the last block's padding), `document_ids` and `document_starts` (the documents in the "
        "block and where each piece starts). A document may continue into the next block.",
        "",
        "## Prompting",
        "",
        "Write a header like the corpus's own, then `<|body|>`, then the start of the text. The first "
        "document's header:",
        "",
        fenced(example_header if example_header is not None else "(no documents)"),
        "",
        f"Control tokens ({len(controls)}): "
        + ", ".join(code(c) for c in controls[:60])
        + (" ..." if len(controls) > 60 else ""),
        "",
        "## Lineage",
        "",
        "| shard | blocks | documents | tokens | blocks data version | labels version | tokenizer sha256 |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for m in sorted(manifests, key=lambda m: m.shard):
        lines.append(
            f"| {cell(m.shard)} | {m.sequences:,} | {m.documents:,} | {m.tokens:,} | {cell(m.blocks_data_version)}"
            f" | {cell(m.labels_version)} | {cell(m.tokenizer_sha256[:16])} |"
        )
    return "\n".join(lines) + "\n"
