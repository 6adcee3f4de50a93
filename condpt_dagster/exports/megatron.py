"""Megatron-LM / GPT-NeoX indexed dataset: ``<folder>/text_document.bin`` + ``.idx`` per shard.

One sequence per document, as Megatron's own ``tools/preprocess_data.py`` writes them: its ``GPTDataset``
shuffles documents and packs them into ``seq_length`` windows itself, so handing it condpt's blocks would
pack twice and tie every run to condpt's block size. Each document is condpt's ``header + <|body|> + body +
<|endoftext|>``, so the concatenated sequences are condpt's packed tokens exactly. Megatron's loss covers
every token (end-of-document ones too unless ``--eod-mask-loss``): with ``mask_header`` on (condpt's
default) header tokens are trained on there and not in condpt (the manifest says which); the ``hf`` export
carries condpt's mask.
Shards merge with megatron-core's ``IndexedDatasetBuilder.add_index`` (its ``tools/merge_datasets.py``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.exports.manifest import ExportManifest
from condpt_dagster.exports.stream import document_stream, fitting_dtype

PREFIX = "text_document"  # the path prefix Megatron's --data-path names: <folder>/text_document
MANIFEST = "export.json"
# megatron-core's own choice of token type (DType.optimal_dtype): uint16 below 65,500 ids, else int32
_TYPES = (np.uint16, np.int32)


def megatron_dtype(vocab_size: int) -> np.dtype:
    dtype = fitting_dtype(vocab_size, _TYPES, "megatron")
    return np.dtype(np.int32) if dtype == np.uint16 and vocab_size >= 65500 else dtype


def write_megatron(files: BlockFiles, folder: Path) -> ExportManifest:
    """Write the shard's documents into ``folder`` (which must be empty: the caller publishes it whole).

    The ``.bin`` is the document tokens back to back, written in one piece (what megatron-core's
    ``IndexedDatasetBuilder.add_document`` writes one document at a time, 5x slower here); the ``.idx`` comes
    from megatron-core's own index writer, the one its builder's ``finalize`` uses, with one sequence and one
    document per condpt document. The round-trip test reads both back with megatron-core's ``IndexedDataset``.
    """
    with warnings.catch_warnings():  # megatron.core's import warns that GPU kernels (Apex, TE) are absent
        warnings.simplefilter("ignore", UserWarning)
        from megatron.core.datasets.indexed_dataset import DType, _IndexWriter, get_bin_path, get_idx_path

    class IndexWriter(_IndexWriter):
        def _sequence_pointers(self, sequence_lengths: np.ndarray) -> np.ndarray:
            """Byte offset of each sequence, as megatron-core computes it, without its per-sequence Python
            loop (2.4 us a document, most of an export's time)."""
            ends = np.cumsum(sequence_lengths, dtype=np.int64) * DType.size(self.dtype)
            return np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1]])

    stream = document_stream(files)
    dtype = megatron_dtype(stream.blocks.meta.vocab_size)
    prefix = str(folder / PREFIX)
    stream.tokens.astype(dtype, copy=False).tofile(get_bin_path(prefix))  # straight from the blocks' memmap
    with IndexWriter(get_idx_path(prefix), dtype.type) as index:
        index.write(stream.lengths.astype(np.int32), None, np.arange(len(stream.ids) + 1, dtype=np.int64))
    manifest = ExportManifest.of(stream, files, "megatron", "document", len(stream.ids), dtype.name)
    manifest.save(folder / MANIFEST)
    return manifest
