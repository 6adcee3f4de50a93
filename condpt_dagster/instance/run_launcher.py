"""A run launcher whose run workers run monitoring can check, so a SIGKILLed run is marked failed.

Dagster's DefaultRunLauncher starts each run worker as a local process but cannot tell the run-monitoring
daemon whether that process is alive: a run whose worker was killed with SIGKILL stays STARTED forever.
This launcher is the default one plus that health check: the worker's pid comes from the run's
"Started process for run (pid: N)" engine event, or from the ``condpt/pid`` tag that ``condpt materialize``
sets on the runs it executes in its own process; the check is valid on the machine that runs them (a
multi-machine deployment uses a launcher with its own health check, e.g. dagster-k8s).

Without a daemon nothing would ever look again at a run whose ``condpt materialize`` was killed, so the CLI
sweeps them itself when it starts (:func:`fail_orphaned_cli_runs`).
"""

from __future__ import annotations

import os
import socket

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

PID_TAG = "condpt/pid"
HOST_TAG = "condpt/host"
_STARTED = "Started process for run (pid: "


def worker_tags() -> dict[str, str]:
    """Tags for a run executed in this process (the CLI's in-process runs)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def worker_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the run's worker process, when it is known."""
    if PID_TAG in run.tags and run.tags.get(HOST_TAG, socket.gethostname()) == socket.gethostname():
        return int(run.tags[PID_TAG])
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = record.dagster_event.message if record.dagster_event else None
        if message and message.startswith(_STARTED):
            return int(message[len(_STARTED) :].split(")")[0])
    return None


def check_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    pid = worker_pid(instance, run)
    if pid is None:  # not started far enough to know; anything but RUNNING would fail the run
        return CheckRunHealthResult(WorkerStatus.RUNNING, "worker pid not recorded yet")
    if _alive(pid):
        return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
    return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone (killed?)")


_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def fail_orphaned_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs that a CLI process on this machine executed and that process is gone
    (killed, or its machine restarted); return their run ids. Runs of other machines and launched runs
    are left to run monitoring."""
    host, failed = socket.gethostname(), []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host})):
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            instance.report_run_failed(run, f"run worker process {pid} is gone (killed?); found by a later condpt run")
            failed.append(run.run_id)
    return failed


class MonitoredRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher plus a run-worker health check for the run-monitoring daemon."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        return check_worker(self._instance, run)
