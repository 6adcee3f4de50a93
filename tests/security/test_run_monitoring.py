"""Issue 17, part 6: a run whose worker process was SIGKILLed is marked failed by run monitoring."""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from condpt_dagster.instance.config import ensure_instance_config
from condpt_dagster.instance.run_launcher import MonitoredRunLauncher

CONDPT = str(Path(sys.executable).parent / "condpt")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


def test_sigkilled_cli_run_is_marked_failed(lake, tmp_path, sample_wheels):
    from condpt_dagster.sample_corpus import sample_documents

    home = tmp_path / "home"
    ensure_instance_config(home)  # condpt's instance: MonitoredRunLauncher + run monitoring
    with gzip.open(lake.inbox / "s.jsonl.gz", "wt") as fh:
        for doc in sample_documents(sample_wheels, 300, seed=3):
            fh.write(json.dumps(doc) + "\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "CONDPT_DATA_ROOT": str(lake.root)}
    subprocess.run([CONDPT, "add-shards", str(lake.inbox / "s.jsonl.gz")], env=env, check=True)
    worker = subprocess.Popen(
        [CONDPT, "materialize", "--select", "raw_documents,clean_documents,document_labels"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            assert isinstance(instance.run_launcher, MonitoredRunLauncher)
            started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
            [record] = wait_for(lambda: instance.get_run_records(started), 180, "a STARTED run")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            monitor_started_run(instance, None, record, logging.getLogger("test"))  # one daemon tick
            run = instance.get_run_by_id(record.dagster_run.run_id)
            assert run.status == dg.DagsterRunStatus.FAILURE
            messages = [e.message for e in instance.all_logs(run.run_id) if e.message]
            assert any("is gone" in m for m in messages)
    finally:
        os.environ.pop("DAGSTER_HOME", None)
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)


def test_a_live_worker_is_left_alone(tmp_path):
    ensure_instance_config(tmp_path)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        from condpt_dagster.instance.run_launcher import check_worker, worker_tags

        run = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), tags=worker_tags())
        assert check_worker(instance, run).status.value == "RUNNING"


def test_the_next_cli_run_fails_runs_whose_cli_process_is_gone(tmp_path, monkeypatch):
    """Issue 28, hole 9: with no daemon, a killed `condpt materialize` left its run STARTED (or NOT_STARTED)
    forever; the next `condpt materialize` marks it failed, and leaves live and other machines' runs alone."""
    import socket

    from click.testing import CliRunner
    from dagster._core.test_utils import create_run_for_test

    from condpt_dagster.cli import main as cli
    from condpt_dagster.instance.run_launcher import HOST_TAG, PID_TAG

    home, data = tmp_path / "home", tmp_path / "data"
    ensure_instance_config(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here, elsewhere = socket.gethostname(), "another-machine"
    status = dg.DagsterRunStatus
    with dg.DagsterInstance.get() as instance:
        runs = {
            name: create_run_for_test(instance, status=state, tags={PID_TAG: str(pid), HOST_TAG: host}).run_id
            for name, state, pid, host in [
                ("killed started", status.STARTED, gone.pid, here),
                ("killed before start", status.NOT_STARTED, gone.pid, here),
                ("live", status.STARTED, os.getpid(), here),
                ("other machine", status.STARTED, gone.pid, elsewhere),
            ]
        }
    result = CliRunner().invoke(cli, ["materialize", "--data", str(data)])
    assert "marked 2 run(s) failed whose condpt process is gone" in result.output, result.output
    with dg.DagsterInstance.get() as instance:
        states = {name: instance.get_run_by_id(run_id).status for name, run_id in runs.items()}
    assert states == {
        "killed started": status.FAILURE,
        "killed before start": status.FAILURE,
        "live": status.STARTED,
        "other machine": status.STARTED,
    }
