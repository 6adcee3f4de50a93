"""What a run costs beyond its work: the code location's import, and a tiny shard through Dagster (issue 29).

    python -m bench.run_overhead [--docs 24] [--reps 3] [--work DIR]

Side by side in one run, on this machine:
1. importing the code location (``condpt_dagster.defs.definitions``) in a fresh interpreter, beside importing
   the libraries it used to import at load time (torch, transformers, scikit-learn, datasketch, datatrove,
   matplotlib): what every step process and every code-server load paid on top before;
2. one tiny shard (``--docs`` sample documents) through raw_documents -> clean_documents -> document_labels ->
   conditioned_examples: (a) the stage functions called directly in a fresh interpreter (imports included),
   (b) a shard_job-equivalent run launched the way the UI launches one (GraphQL, run queue, daemon, run
   launcher; PostgreSQL + code server + webserver + daemon, the deployment's harness), timed from the run's
   start to its end and from launch to completion. Target: (b) run <= 2 x (a) + 3 s.
Needs PostgreSQL's server (Debian's `postgresql`) for 2b.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


BIN = Path(sys.executable).parent
ASSETS = ["raw_documents", "clean_documents", "document_labels", "conditioned_examples"]
OLD_LOAD_IMPORTS = (
    "import torch, transformers, sklearn.linear_model, datasketch, datatrove.pipeline.filters, matplotlib"
)
DIRECT = """
import sys, time
start = time.perf_counter()
from pathlib import Path
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import load_settings
from condpt_dagster.labelers import labeler_for
from condpt_dagster.stages import clean_documents, conditioned_examples, document_labels, raw_documents
settings = load_settings()
lake, shard, source = DataLake.at(settings.data_root), sys.argv[1], Path(sys.argv[2])
raw_documents.ingest_shard(source, shard, lake.raw(shard), lake.quarantine(shard), settings.ingest)
clean_documents.clean_shard(lake, shard, settings.clean, log=lambda _: None)
document_labels.label_and_check(lake, shard, labeler_for(settings.labeler), settings.labeler.batch_docs)
conditioned_examples.condition_shard(
    lake.clean(shard), lake.labels(shard), lake.conditioned(shard), settings.conditioning
)
print(time.perf_counter() - start)
"""


def fresh_import(env: dict[str, str]) -> float:
    code = (
        "import time; s = time.perf_counter(); import condpt_dagster.defs.definitions; print(time.perf_counter() - s)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def sample_shards(work: Path, docs: int, reps: int) -> list[Path]:
    """One shard of ``docs`` different documents per repetition (the same one twice would be deduplicated)."""
    env = {**os.environ, "CONDPT_DATA_ROOT": str(work / "sample")}
    cmd = [str(BIN / "condpt"), "sample", "--docs", str(docs * reps), "--shards", str(reps)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return sorted((work / "sample" / "inbox").glob("sample-*.jsonl.gz"))


def direct(work: Path, source: Path, rep: int) -> tuple[float, float]:
    env = {**os.environ, "CONDPT_DATA_ROOT": str(work / f"direct{rep}")}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", DIRECT, "tiny", str(source)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return time.perf_counter() - start, float(out.stdout.split()[-1])


def through_dagster(work: Path, sources: list[Path]) -> list[dict[str, float]]:
    import dagster as dg

    from condpt_dagster.cli.submit import SUCCEEDED, submit_backfill, wait_for_backfill
    from harness.services import deployment

    out = []
    extra = {"CONDPT_DATA_ROOT": str(work / "deployed"), "CONDPT_INBOX_SENSOR": "stopped"}
    with deployment(work / "deployment", extra) as deploy:
        url = f"http://127.0.0.1:{deploy.web_port}"
        for rep, source in enumerate(sources):
            shard = f"tiny{rep}"
            target = Path(tempfile.mkdtemp(dir=work)) / f"{shard}.jsonl.gz"
            target.write_bytes(source.read_bytes())
            subprocess.run([str(BIN / "condpt"), "add-shards", str(target)], env=deploy.env, check=True)
            start = time.perf_counter()
            backfill = submit_backfill(url, ASSETS, [shard])
            status = wait_for_backfill(url, backfill, poll_seconds=0.2)
            wall = time.perf_counter() - start
            if status not in SUCCEEDED:
                raise SystemExit(f"backfill {backfill} ended {status}; logs under {work}")
            os.environ.update({k: v for k, v in deploy.env.items() if k.startswith(("CONDPT_PG", "DAGSTER_HOME"))})
            instance = dg.DagsterInstance.get()
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill}))
            record = instance.get_run_records(dg.RunsFilter(run_ids=[runs[0].run_id]))[0]
            out.append({"launch_to_done_s": wall, "run_s": record.end_time - record.start_time, "runs": len(runs)})
            instance.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-overhead-"))
    env = {k: v for k, v in os.environ.items() if k != "CONDPT_CONFIG"} | {"CONDPT_DATA_ROOT": str(work / "load")}
    env["HF_HUB_OFFLINE"] = "1"
    now = statistics.median(fresh_import(env) for _ in range(args.reps))
    code = f"import time; s = time.perf_counter(); {OLD_LOAD_IMPORTS}; print(time.perf_counter() - s)"
    libs = statistics.median(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(args.reps)
    )
    print(
        f"code location import: {now:.2f} s; the libraries it imported at load time before cost {libs:.2f} s "
        f"in a fresh interpreter (before: ~{now + libs:.2f} s, {(now + libs) / now:.1f}x)"
    )
    sources = sample_shards(work, args.docs, args.reps)
    directs = [direct(work, source, rep) for rep, source in enumerate(sources)]
    direct_wall = statistics.median(d[0] for d in directs)
    print(
        f"{args.docs}-doc shard, stage functions in a fresh interpreter: {direct_wall:.2f} s wall "
        f"({statistics.median(d[1] for d in directs):.2f} s inside the process)"
    )
    runs = through_dagster(work, sources)
    print("runs:", ", ".join(f"{r['run_s']:.2f} s ({r['launch_to_done_s']:.2f} s launch to done)" for r in runs))
    run_s = statistics.median(r["run_s"] for r in runs)
    wall = statistics.median(r["launch_to_done_s"] for r in runs)
    print(
        f"through the deployment (run queue, daemon, run launcher, in-process executor): run {run_s:.2f} s, "
        f"launch to done {wall:.2f} s, {runs[0]['runs']} run(s) per shard"
    )
    target = 2 * direct_wall + 3
    verdict = "met" if run_s <= target else "NOT met"
    print(f"ratio run / direct: {run_s / direct_wall:.2f}x; target run <= 2 x direct + 3 s = {target:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
