"""Block exports vs numpy writing the same tokens to one file, same shard, one run.

    python -m bench.export [--tokens 50000000] [--block-size 2048] [--vocab 50277] [--work DIR]

Builds one shard's blocks the way ``token_blocks`` lays them out (random documents of 50-2,000 tokens under a
GPT-NeoX-sized vocabulary, so uint16 ids; packed, with spans and meta), then times, best of 3:
1. numpy: the shard's packed tokens read from the blocks and written to one file (``ndarray.tofile``): the
   floor any export pays;
2. ``megatron``: ``text_document.bin/.idx`` through megatron-core's ``IndexedDatasetBuilder``, one sequence per
   document, with the checks and lineage the asset writes;
3. ``hf``: the Hugging Face Arrow file (one row per block: uint16 ids, loss mask, document ids).
Throughput is document tokens per second; the ratio is each export's throughput over numpy's (target >= 0.8).
Each is timed twice: into the page cache, and until the bytes are on disk (``os.sync`` inside the timing).
Beside them, integrity work timed alone: reading and checking the document stream (every export does it), and
the lineage hash (``blocks_data_version``, sha256 of the tokens and spans) that an export pays only for blocks
packed before their meta kept it (``token_blocks`` hashes once, at packing).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.conditioning.blocks import SPANS_SCHEMA, BlockMeta, blocks_data_version
from condpt_dagster.core.lake import BlockFiles
from condpt_dagster.exports import hf, megatron
from condpt_dagster.exports.stream import document_stream


def synthetic_blocks(files: BlockFiles, n_tokens: int, block_size: int, vocab: int, seed: int = 0) -> BlockMeta:
    """Documents of random length and ids, packed back to back into ``block_size`` blocks, last one padded."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(50, 2000, size=n_tokens // 1000 + 2)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    total = int(lengths.sum())
    n_blocks = -(-total // block_size)
    tokens = np.zeros(n_blocks * block_size, dtype=np.uint16)  # pad id 0
    tokens[:total] = rng.integers(1, vocab, size=total, dtype=np.uint16)
    mask = np.zeros_like(tokens, dtype=np.uint8)
    mask[:total] = 1
    files.folder.mkdir(parents=True, exist_ok=True)
    tokens.tofile(files.tokens)
    mask.tofile(files.mask)
    pq.write_table(pa.table(_spans(lengths, block_size), schema=SPANS_SCHEMA), files.spans)
    meta = BlockMeta(
        shard=files.shard, block_size=block_size, dtype="uint16", n_blocks=n_blocks, vocab_size=vocab, eos_id=1,
        pad_id=0, body_id=2, tokenizer_sha256="0" * 64, documents=len(lengths), blocks=n_blocks, tokens=total,
        padding_tokens=n_blocks * block_size - total, data_version=blocks_data_version(files),
    )  # fmt: skip
    meta.save(files.meta)
    return meta


def _spans(lengths: np.ndarray, block_size: int) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in SPANS_SCHEMA.names}
    position = 0
    for i, length in enumerate(lengths.tolist()):
        done = 0
        while done < length:
            block, start = divmod(position, block_size)
            piece = min(length - done, block_size - start)
            piece_row = (block, f"d{i}", start, start + piece, done, length, 8)
            for name, value in zip(SPANS_SCHEMA.names, piece_row, strict=True):
                rows[name].append(value)
            done += piece
            position += piece
    return rows


def best_of(fn, repeat: int = 3, sync: bool = False) -> float:
    best = float("inf")
    for _ in range(repeat):
        os.sync()  # earlier writes are not this run's to flush
        start = time.perf_counter()
        fn()
        if sync:
            os.sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--block-size", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=50277)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-export-bench-"))
    files = BlockFiles(work / "blocks", "s0")
    meta = synthetic_blocks(files, args.tokens, args.block_size, args.vocab)
    megatron.write_megatron(files, _fresh(work / "warm"))  # imports megatron.core once, outside the timing

    def numpy_write() -> None:
        tokens = np.memmap(files.tokens, dtype=np.uint16, mode="r").reshape(-1)[: meta.tokens]
        np.asarray(tokens).tofile(work / "numpy.bin")

    runs = {
        "numpy tofile": numpy_write,
        "megatron": lambda: megatron.write_megatron(files, _fresh(work / "megatron")),
        "hf": lambda: hf.write_hf(files, work / "hf.arrow"),
    }
    cached = {name: best_of(fn) for name, fn in runs.items()}
    on_disk = {name: best_of(fn, sync=True) for name, fn in runs.items()}
    checks = {
        "lineage hash": best_of(lambda: blocks_data_version(files)),
        "stream + checks": best_of(lambda: document_stream(files)),
    }
    print(f"{meta.tokens:,} tokens in {meta.documents:,} documents, {meta.n_blocks:,} blocks of {meta.block_size}")
    print(f"{'':14} {'page cache':>30}   {'on disk (os.sync)':>30}")
    for name in runs:
        print(f"{name:14} {_rate(meta.tokens, cached, name)}   {_rate(meta.tokens, on_disk, name)}")
    for name, seconds in checks.items():
        print(f"  of which {name:15} {seconds:6.3f} s (alone)")


def _rate(tokens: int, times: dict[str, float], name: str) -> str:
    rate, floor = tokens / times[name], tokens / times["numpy tofile"]
    return f"{times[name]:6.3f} s {rate / 1e6:7.1f} M tok/s {rate / floor:5.2f}x"


def _fresh(folder: Path) -> Path:
    for path in folder.glob("*"):
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    main()
