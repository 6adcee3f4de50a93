"""Run a real `dagster dev` (webserver + daemon) on a free loopback port for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from condpt_dagster.instance.config import ensure_instance_config

REPO = Path(__file__).resolve().parents[1]
# condpt.toml for test corpora of one-line, look-alike documents: the Gopher rules, near-duplicate removal
# and the decontamination check would (rightly) remove or refuse them.
SHORT_DOCS_TOML = """
[clean]
near_duplicates = false
check_decontamination = false
[clean.gopher_quality]
enabled = false
[clean.gopher_repetition]
enabled = false
"""
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 now (connection errors count as no)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextmanager
def dagster_dev(env: dict[str, str], log_path: Path, startup_timeout: float = 180) -> Iterator[int]:
    """Start `dagster dev` in its own process group; yield its port; stop the whole group afterwards."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:

            def ready() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"dagster dev exited early:\n{log_path.read_text()[-3000:]}")
                return http_ok(f"http://127.0.0.1:{port}/server_info")

            wait_until(ready, startup_timeout, "dagster dev to answer")
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):  # the group may already be gone
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def service_env(data_root: Path, dagster_home: Path, **extra: str) -> dict[str, str]:
    ensure_instance_config(dagster_home)  # the instance `condpt` creates: run monitoring on
    return {
        **os.environ,
        "CONDPT_DATA_ROOT": str(data_root),
        "DAGSTER_HOME": str(dagster_home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **extra,
    }
