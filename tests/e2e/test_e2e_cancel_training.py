"""Cancelling a training run in Dagster stops the launcher and every rank (Pipes forwards termination)."""

from __future__ import annotations

import gzip
import subprocess
import time

import psutil
import pytest
from dagster_graphql import DagsterGraphQLClient
from factories import make_lake

from harness.e2e_util import BIN, SHORT_DOCS_TOML, dagster_dev, service_env, wait_until

pytestmark = pytest.mark.e2e


def training_processes(spec_path: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if spec_path in cmdline:
            found.append(proc)
    return found


def test_cancel_stops_training(tmp_path):
    lake = make_lake(tmp_path / "data")
    config = tmp_path / "condpt.toml"
    config.write_text(
        '[training]\nrun = "long"\nmax_steps = 100000\ncheckpoint_every = 100000\nmicro_batch_size = 2\nlog_every = 1\n'
        + SHORT_DOCS_TOML
    )
    lake.inbox.mkdir(parents=True, exist_ok=True)
    for shard in ("a", "b"):  # register the shards whose blocks exist
        (tmp_path / f"{shard}.jsonl.gz").write_bytes(gzip.compress(f'{{"text": "{shard}"}}\n'.encode()))
    env = service_env(lake.root, tmp_path / "dagster_home", CONDPT_INBOX_SENSOR="stopped", CONDPT_CONFIG=str(config))
    subprocess.run(
        [str(BIN / "condpt"), "add-shards", str(tmp_path / "a.jsonl.gz"), str(tmp_path / "b.jsonl.gz")],
        env=env,
        check=True,
    )
    spec = str(lake.checkpoints_dir / "long" / "run.json")
    with dagster_dev(env, tmp_path / "dagster-dev.log") as port:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_id = client.submit_job_execution("train_job", asset_selection=[["checkpoint"]])
        wait_until(lambda: training_processes(spec), 180, "the training processes to start", interval=1)
        time.sleep(5)  # let it train a few steps
        assert client.get_run_status(run_id).value == "STARTED"
        client.terminate_run(run_id)
        status = wait_until(
            lambda: (
                client.get_run_status(run_id).value in ("CANCELED", "FAILURE") and client.get_run_status(run_id).value
            ),
            120,
            "the run to stop",
            interval=1,
        )
        assert status == "CANCELED"
        wait_until(lambda: not training_processes(spec), 60, "every training process to exit", interval=1)
    assert not (lake.checkpoints_dir / "long" / "manifest.json").exists()
