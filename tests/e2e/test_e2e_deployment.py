"""The production deployment with real services: PostgreSQL, a code server, dagster-webserver and
dagster-daemon with deploy/dagster.yaml. A 6-shard asset backfill launched through GraphQL with the `gpu`
pool limited to 2 must never run more than 2 labeling steps at once, must survive the daemon being SIGKILLed
mid-backfill, and must materialize every partition exactly once."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections import Counter

import dagster as dg
import pytest

from condpt_dagster.cli.submit import SUCCEEDED, submit_backfill, wait_for_backfill
from condpt_dagster.core.lake import DataLake
from harness.e2e_util import BIN, SHORT_DOCS_TOML, wait_until
from harness.services import deployment, postgres_binaries

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.deploy,
    pytest.mark.skipif(
        postgres_binaries() is None, reason="PostgreSQL server not installed (apt-get install postgresql)"
    ),
]

SHARDS = 6
GPU_LIMIT = 2
PARTITION = "dagster/partition"
ASSETS = ("raw_documents", "clean_documents", "document_labels")
TOPICS = (
    "The council approved the new budget for schools and roads after a long public debate.",
    "A quiet detective novel about a small harbour town and a missing fisherman.",
    "Stir the onions slowly in butter, then add the rice and the warm stock cup by cup.",
    "The striker scored twice in the second half and the home team won the cup final.",
)


def write_shards(folder) -> list[str]:
    paths = []
    for k in range(SHARDS):
        rows = [{"id": f"d{k}-{i}", "text": f"{TOPICS[i % 4]} Shard {k}, note {i}."} for i in range(16)]
        path = folder / f"prod-{k}.jsonl.gz"
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
        paths.append(str(path))
    return paths


def step_intervals(instance: dg.DagsterInstance, run_ids: list[str], step_key: str) -> list[tuple[float, float]]:
    """(start, end) of every execution of ``step_key`` in the runs, from their event logs in PostgreSQL."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    intervals = []
    for run_id in run_ids:
        events = [e for e in instance.all_logs(run_id, of_type=kinds) if e.step_key == step_key]
        starts = [e.timestamp for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_START]
        ends = [e.timestamp for e in events if e.dagster_event_type != dg.DagsterEventType.STEP_START]
        intervals += list(zip(starts, ends, strict=True))
    return intervals


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in edges:  # an end sorts before a start at the same instant
        running += delta
        peak = max(peak, running)
    return peak


def blocked_by_pool(instance: dg.DagsterInstance, run_ids: list[str]) -> int:
    return sum(
        1
        for run_id in run_ids
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if (e.dagster_event.message or "").startswith("Step blocked by limit for pool gpu")
    )


def test_backfill_with_gpu_pool_survives_daemon_sigkill(tmp_path, monkeypatch):
    data = tmp_path / "data"
    DataLake.at(data).inbox.mkdir(parents=True)
    config = tmp_path / "condpt.toml"
    config.write_text('[labeler]\nname = "composite"\n' + SHORT_DOCS_TOML)
    extra = {"CONDPT_DATA_ROOT": str(data), "CONDPT_CONFIG": str(config), "CONDPT_INBOX_SENSOR": "stopped"}
    with deployment(tmp_path, extra) as deploy:
        for key, value in deploy.env.items():  # this process reads the same PostgreSQL instance
            if key.startswith(("CONDPT_", "DAGSTER_")):
                monkeypatch.setenv(key, value)
        deploy.dagster("instance", "concurrency", "set", "gpu", str(GPU_LIMIT))
        subprocess.run([str(BIN / "condpt"), "add-shards", *write_shards(tmp_path)], env=deploy.env, check=True)
        instance = dg.DagsterInstance.get()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == GPU_LIMIT

        url = f"http://127.0.0.1:{deploy.web_port}"
        partitions = [f"prod-{k}" for k in range(SHARDS)]
        backfill_id = submit_backfill(url, list(ASSETS), partitions)  # what `condpt materialize --submit` does

        def labeled() -> int:
            return len(instance.fetch_materializations(dg.AssetKey("document_labels"), limit=100).records)

        wait_until(lambda: labeled() >= 1, 600, "the first labeled shard", interval=1)
        assert labeled() < SHARDS, "backfill finished before the daemon could be killed mid-way"
        deploy.services["daemon"].kill()  # SIGKILL to the daemon's whole process group
        deploy.start_daemon()

        assert wait_for_backfill(url, backfill_id, poll_seconds=2) in SUCCEEDED

        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        # PER_SHARD_BACKFILL: one run per shard, tagged with its partition (not a range: see assets/pools.py)
        assert Counter(r.tags[PARTITION] for r in runs) == Counter(partitions)
        for asset, check in (("raw_documents", "rows_accounted_for"), ("document_labels", "one_label_per_document")):
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)  # evaluated per shard, so the UI shows them per shard
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
            evaluated = [r.event.dagster_event.event_specific_data.partition for r in history if r.event]
            assert Counter(evaluated) == Counter(partitions), check
        for asset in ASSETS:
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
            assert Counter(r.partition_key for r in records) == Counter(partitions), asset  # each exactly once
        run_ids = [r.run_id for r in runs]
        intervals = step_intervals(instance, run_ids, "document_labels")
        assert len(intervals) == SHARDS
        assert max_overlap(intervals) <= GPU_LIMIT
        # the limit was what held them back: some labeling step waited for a `gpu` slot
        assert blocked_by_pool(instance, run_ids) >= 1

        # the CLI's way in: every registered shard's audit rows, through the same deployment, waited for
        done = subprocess.run(
            [str(BIN / "condpt"), "materialize", "--select", "label_audit", "--submit", url, "--wait"],
            env=deploy.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "launched backfill" in done.stdout
        audits = instance.fetch_materializations(dg.AssetKey("label_audit"), limit=100).records
        assert Counter(r.partition_key for r in audits) == Counter(partitions)
