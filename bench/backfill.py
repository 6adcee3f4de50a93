"""A 6-shard backfill through the production deployment: one run at a time vs two concurrent runs.

    python -m bench.backfill [--shards 6] [--docs-per-shard 200] [--concurrency 1 2] [--split-threads] [--work DIR]

For each concurrency level: a fresh PostgreSQL + code server + webserver + daemon (deploy/dagster.yaml with
``concurrency.runs.max_concurrent_runs`` set to the level, the `gpu` pool at 2), a fresh lake with the same
sample shards, then one asset backfill (raw_documents -> clean_documents -> document_labels ->
conditioned_examples) launched through GraphQL and timed from launch to COMPLETED. Prints wall time, runs/min
and the ratio to the first level, and the machine's CPU time (all cores, all processes) with the ceiling it
implies: the same work cannot finish faster than its core-seconds spread over every core. With
``--split-threads`` each level's labeler gets ``[labeler] threads = cores / level`` (runs sharing a machine
split its cores instead of oversubscribing them). Needs PostgreSQL's server (Debian's `postgresql`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import psutil

from condpt_dagster.cli.submit import SUCCEEDED, submit_backfill, wait_for_backfill
from harness.services import deployment  # the same harness as the deployment test

REPO = Path(__file__).resolve().parents[1]

ASSETS = ["raw_documents", "clean_documents", "document_labels", "conditioned_examples"]
BIN = Path(sys.executable).parent


def make_shards(folder: Path, shards: int, docs_per_shard: int) -> list[Path]:
    data = folder / "sample"
    env = {**os.environ, "CONDPT_DATA_ROOT": str(data)}
    subprocess.run(
        [str(BIN / "condpt"), "sample", "--docs", str(shards * docs_per_shard), "--shards", str(shards)],
        env=env,
        check=True,
        capture_output=True,
    )
    return sorted((data / "inbox").glob("sample-*.jsonl.gz"))


def run_level(work: Path, shards: list[Path], concurrency: int, split_threads: bool) -> dict[str, float]:
    tmp = work / f"runs{concurrency}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data = tmp / "data"
    extra = {"CONDPT_DATA_ROOT": str(data), "CONDPT_INBOX_SENSOR": "stopped"}
    if split_threads:
        config = tmp / "condpt.toml"
        config.write_text(f"[labeler]\nthreads = {max(1, (os.cpu_count() or 1) // concurrency)}\n")
        extra["CONDPT_CONFIG"] = str(config)
    elif os.environ.get("CONDPT_CONFIG"):
        extra["CONDPT_CONFIG"] = os.environ["CONDPT_CONFIG"]
    with deployment(tmp, extra, max_concurrent_runs=concurrency) as deploy:
        deploy.dagster("instance", "concurrency", "set", "gpu", "2")
        subprocess.run(
            [str(BIN / "condpt"), "add-shards", *map(str, shards)], env=deploy.env, check=True, capture_output=True
        )
        url = f"http://127.0.0.1:{deploy.web_port}"
        keys = [p.name.split(".")[0] for p in shards]
        start, cpu_before = time.perf_counter(), psutil.cpu_times()
        backfill_id = submit_backfill(url, ASSETS, keys)
        status = wait_for_backfill(url, backfill_id, poll_seconds=1)
        wall, cpu_after = time.perf_counter() - start, psutil.cpu_times()
        if status not in SUCCEEDED:
            raise SystemExit(f"backfill {backfill_id} ended {status}; logs under {tmp}")
        os.environ.update({k: v for k, v in deploy.env.items() if k.startswith(("CONDPT_PG", "DAGSTER_HOME"))})
        instance = dg.DagsterInstance.get()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        busy = sum(
            (r.end_time or 0) - (r.start_time or 0)
            for r in instance.get_run_records(dg.RunsFilter(run_ids=[r.run_id for r in runs]))
        )
        instance.dispose()
    core_seconds = _busy(cpu_after) - _busy(cpu_before)
    return {"wall_s": wall, "runs": len(runs), "run_seconds": busy, "core_seconds": core_seconds}


def _busy(times) -> float:
    """Seconds the whole machine's cores spent doing anything (all processes, not only the runs)."""
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=6)
    parser.add_argument("--docs-per-shard", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--split-threads", action="store_true", help="labeler threads = cores / concurrent runs")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-backfill-"))
    shards = make_shards(work, args.shards, args.docs_per_shard)
    print(f"{len(shards)} shards x {args.docs_per_shard} documents; {os.cpu_count()} cores; work dir {work}")
    results = {}
    for level in args.concurrency:
        results[level] = run_level(work, shards, level, args.split_threads)
        r = results[level]
        print(
            f"max_concurrent_runs={level}: {r['wall_s']:.1f} s wall for {r['runs']} runs "
            f"({r['runs'] / r['wall_s'] * 60:.1f} runs/min; run time summed {r['run_seconds']:.1f} s)",
            flush=True,
        )
        cores = os.cpu_count() or 1
        # The same work cannot finish faster than its CPU time spread over every core.
        print(
            f"  CPU: {r['core_seconds']:.1f} core-seconds, {r['core_seconds'] / r['wall_s'] / cores:.0%} of "
            f"{cores} cores busy; ceiling for any concurrency: {r['wall_s'] * cores / r['core_seconds']:.2f}x",
            flush=True,
        )
    base = results[args.concurrency[0]]["wall_s"]
    for level in args.concurrency[1:]:
        print(f"throughput ratio {level} vs {args.concurrency[0]}: {base / results[level]['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
