"""1,000 partitions: the inbox sensor registering 1,000 files, a 1,000-shard backfill through the daemon, and
the UI's partitions page (issue 29).

    python -m bench.partitions [--shards 1000] [--docs 3] [--concurrent-runs 2] [--work DIR]

The deployment is the harness of harness/services.py: PostgreSQL, code server, webserver and daemon with
deploy/dagster.yaml (queued run coordinator; ``--concurrent-runs`` replaces its run limit). In one run:
1. ``--shards`` tiny shard files (``--docs`` distinct documents each) are written to the lake's inbox;
2. the inbox sensor's own evaluation function, against the deployment's instance, is timed for its first tick
   (every file new: hashed, registered as a partition, one run request each) and a second tick (nothing new);
   the partitions it asks for are added as the sensor daemon adds them;
3. headless Chromium (selenium with Debian's ``chromium`` and ``chromium-driver``) opens the asset's
   partitions page: seconds until the partition count has rendered, first and second visit;
4. a backfill of ``raw_documents`` over every partition (or the first ``--backfill-shards``) is launched through
   GraphQL as the UI launches one, and run by the daemon: wall time, runs per minute, the median run's
   start-to-end; then the partitions page again, with the materialized partitions.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


ASSET = "raw_documents"


def write_shards(inbox: Path, shards: int, docs: int) -> list[str]:
    inbox.mkdir(parents=True, exist_ok=True)
    keys = []
    for n in range(shards):
        key = f"p{n:05d}"
        lines = (
            json.dumps({"id": f"{key}-{i}", "text": f"Shard {n}, document {i}: the council met on the budget again."})
            for i in range(docs)
        )
        (inbox / f"{key}.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        keys.append(key)
    return keys


def sensor_ticks(env: dict[str, str]) -> dict[str, float]:
    """Two evaluations of the inbox sensor as the daemon runs it (its function, the deployment's instance)."""
    import dagster as dg

    from condpt_dagster.assets.partitions import shards
    from condpt_dagster.core.settings import load_settings
    from condpt_dagster.defs.definitions import build_definitions

    os.environ.update({k: v for k, v in env.items() if k.startswith(("CONDPT_", "DAGSTER_HOME"))})
    defs = build_definitions(load_settings())
    sensor = defs.resolve_sensor_def("inbox_sensor")
    out, cursor = {}, None
    with dg.DagsterInstance.get() as instance:
        for tick in ("first", "second"):
            start = time.perf_counter()
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources) as context:
                result = sensor(context)
            for request in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions(shards.name, list(request.partition_keys))
            out[f"{tick}_tick_s"] = time.perf_counter() - start
            out[f"{tick}_tick_run_requests"] = len(result.run_requests or [])
            cursor = result.cursor
        out["partitions"] = len(instance.get_dynamic_partitions(shards.name))
    return out


def backfill(url: str, keys: list[str] | None, timeout: float) -> dict[str, float]:
    import dagster as dg

    from condpt_dagster.cli.submit import SUCCEEDED, submit_backfill, wait_for_backfill

    start = time.perf_counter()
    backfill_id = submit_backfill(url, [ASSET], keys)
    status = wait_for_backfill(url, backfill_id, poll_seconds=2)
    wall = time.perf_counter() - start
    if status not in SUCCEEDED or wall > timeout:
        raise SystemExit(f"backfill {backfill_id} ended {status} after {wall:.0f} s")
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        runs = [r.end_time - r.start_time for r in records if r.end_time and r.start_time]
        failed = [r for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    return {"wall_s": wall, "runs": len(records), "failed": len(failed), "median_run_s": statistics.median(runs)}


def partitions_page(port: int, shards: int) -> list[float]:
    """Seconds until the asset's partitions page shows the partition count, on two visits."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from harness.browser import find_chromium

    found = find_chromium()
    if found is None:
        raise SystemExit("Chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(found[1]), options=options)
    expected = f"{shards:,}"
    seconds = []
    try:
        for _ in range(2):
            start = time.perf_counter()
            chrome.get(f"http://127.0.0.1:{port}/assets/{ASSET}?view=partitions")
            while expected not in chrome.find_element("tag name", "body").text:
                if time.perf_counter() - start > 180:
                    raise SystemExit(f"the partitions page never showed {expected!r}")
                time.sleep(0.1)
            seconds.append(time.perf_counter() - start)
    finally:
        chrome.quit()
    return seconds


def main() -> None:
    from harness.services import deployment

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=3)
    parser.add_argument("--concurrent-runs", type=int, default=2)
    parser.add_argument("--backfill-shards", type=int, help="backfill only the first N partitions (default: all)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds the backfill may take")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-partitions-"))
    data = work / "data"
    keys = write_shards(data / "inbox", args.shards, args.docs)
    extra = {"CONDPT_DATA_ROOT": str(data), "CONDPT_INBOX_SENSOR": "stopped"}
    with deployment(work / "deployment", extra, max_concurrent_runs=args.concurrent_runs) as deploy:
        ticks = sensor_ticks(deploy.env)
        print(
            f"inbox sensor, {args.shards:,} new files: first tick {ticks['first_tick_s']:.1f} s "
            f"({ticks['first_tick_run_requests']:,} run requests, {ticks['partitions']:,} partitions), "
            f"second tick {ticks['second_tick_s']:.2f} s ({ticks['second_tick_run_requests']} run requests)",
            flush=True,
        )
        first, second = partitions_page(deploy.web_port, args.shards)
        print(f"UI partitions page, {args.shards:,} registered: {first:.1f} s first visit, {second:.1f} s second")
        chosen = keys[: args.backfill_shards] if args.backfill_shards else None
        done = backfill(f"http://127.0.0.1:{deploy.web_port}", chosen, args.timeout)
        print(
            f"backfill of {ASSET} over {done['runs']:,} partitions through the daemon ({args.concurrent_runs} runs "
            f"at a time): {done['wall_s'] / 60:.1f} min, {60 * done['runs'] / done['wall_s']:.1f} runs/min, "
            f"median run {done['median_run_s']:.1f} s start to end, "
            f"{args.concurrent_runs * done['wall_s'] / done['runs']:.1f} s of a run slot per run, "
            f"{done['failed']} failed",
            flush=True,
        )
        first, second = partitions_page(deploy.web_port, args.shards)
        print(
            f"UI partitions page of {ASSET} ({args.shards:,} partitions, {done['runs']:,} materialized): "
            f"{first:.1f} s first visit, {second:.1f} s second"
        )


if __name__ == "__main__":
    main()
