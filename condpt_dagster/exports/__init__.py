"""Token blocks handed to the engines that train at scale, read by each engine's own reader.

- ``megatron``: Megatron-LM / GPT-NeoX indexed dataset (``.bin`` + ``.idx``), written with megatron-core's own
  ``IndexedDatasetBuilder``, one sequence per document (:mod:`condpt_dagster.exports.megatron`);
- ``hf``: Hugging Face ``datasets`` Arrow files, one row per block with ``input_ids``, the header ``loss_mask`` and
  the ids of the documents in the block, under a dataset card (:mod:`condpt_dagster.exports.hf`).

Every export carries its lineage (the blocks' data version, the tokenizer's sha256, the labeler version the
headers came from) in an :class:`~condpt_dagster.exports.manifest.ExportManifest`, and is published whole or
not at all.
"""

from condpt_dagster.exports.stream import ExportError

FORMATS = ("megatron", "hf")

__all__ = ["FORMATS", "ExportError"]
