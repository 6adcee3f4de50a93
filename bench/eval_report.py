"""Evaluation report cost for a trained checkpoint: wall time, peak RSS, generation tokens/s.

    python -m bench.eval_report --data data --run demo [--config configs/demo.toml] [--samples 16]

Runs exactly what the eval_report asset runs (held-out losses, generations judged by the composite labeler,
attribution, report files, written to ``eval/<run>-bench/``), timing the whole, and separately times
``--samples`` unconditional samples of 64 tokens.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from condpt_dagster.conditioning.heldout import load_heldout
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import load_settings
from condpt_dagster.evaluation.report import write_report
from condpt_dagster.evaluation.run import evaluate
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.training.generate import ConditionalGenerator

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data")
    parser.add_argument("--run", default="demo")
    parser.add_argument("--config", default=str(REPO / "configs" / "demo.toml"))
    parser.add_argument("--samples", type=int, default=16, help="Unconditional samples timed (64 tokens each).")
    args = parser.parse_args()
    lake = DataLake.at(args.data)
    options = load_settings(args.config).eval
    checkpoint = lake.checkpoint(args.run).folder
    manifest = CheckpointManifest.load(lake.checkpoint(args.run).manifest)
    start = time.perf_counter()
    generator = ConditionalGenerator(checkpoint)
    labeler = CompositeLabeler()
    metrics = evaluate(
        generator,
        load_heldout(lake, manifest.shards),
        labeler.label,
        labeler.encoder.encode,
        options,
        progress=lambda message: None,
    )
    out = lake.evaluation(f"{args.run}-bench")
    write_report(metrics, out, f"bench {args.run}")
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    generated = 0
    gen_start = time.perf_counter()
    for i in range(args.samples):
        ids = generator.generate(None, "", seed=i, max_new_tokens=64, min_new_tokens=64)
        generated += len(ids)
    gen_seconds = time.perf_counter() - gen_start
    params = sum(p.numel() for p in generator.model.parameters())
    print(
        f"checkpoint {args.run}: {params / 1e6:.2f}M parameters, {manifest.steps} steps; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"eval options: {options}")
    print(f"report wall time: {wall:.1f}s   peak RSS: {rss:,.0f} MiB   headline: {metrics['headline']}")
    print(
        f"generation: {generated} tokens in {gen_seconds:.1f}s = {generated / gen_seconds:,.0f} tokens/s "
        "(batch 1, sampling)"
    )


if __name__ == "__main__":
    main()
