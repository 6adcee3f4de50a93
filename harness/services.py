"""A production-shaped Dagster deployment on loopback for tests and benchmarks: PostgreSQL (Debian's server,
data in a temp dir), one code server, the webserver and the daemon, all with deploy/dagster.yaml."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.e2e_util import BIN, REPO, free_port, http_ok, wait_until

DEPLOY = REPO / "deploy"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian's layout, newest first


def postgres_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    for folder in [*PG_BIN_DIRS, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep))]:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and this machine's sessions are root, developers usually are not.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    port: int
    user: str = "condpt"
    db: str = "condpt"

    def env(self) -> dict[str, str]:
        return {
            "CONDPT_PG_HOST": "127.0.0.1",
            "CONDPT_PG_PORT": str(self.port),
            "CONDPT_PG_USER": self.user,
            "CONDPT_PG_PASSWORD": "unused-trust-auth",
            "CONDPT_PG_DB": self.db,
        }


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth, no fsync), removed afterwards."""
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL server not installed: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="condpt-pg-"))  # outside pytest's 0700 dirs: the postgres user reads it
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pg = Postgres(port=free_port())
    data, log = root / "data", root / "server.log"
    try:
        subprocess.run(
            _as_postgres_user([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", pg.user, "--no-sync"]),
            check=True,
            capture_output=True,
        )
        options = f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres_user(
                [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        createdb = binaries / "createdb" if (binaries / "createdb").exists() else "createdb"
        subprocess.run(
            [str(createdb), "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.user, pg.db],
            check=True,
            capture_output=True,
        )
        yield pg
    finally:
        subprocess.run(
            _as_postgres_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Service:
    """A process in its own session (so that its children die with it), logging to a file."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()[-3000:]}")
        return True

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Deployment:
    env: dict[str, str]
    workspace: Path
    web_port: int
    logs: Path
    services: dict[str, Service] = field(default_factory=dict)

    def dagster(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "dagster"), *args], env=self.env, cwd=REPO, check=True, capture_output=True)

    def start_daemon(self) -> Service:
        daemon = Service(
            "dagster-daemon",
            [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
            self.env,
            self.logs / "daemon.log",
        ).start()
        self.services["daemon"] = daemon
        return daemon


@contextmanager
def deployment(
    tmp: Path, extra_env: dict[str, str], startup_timeout: float = 240, max_concurrent_runs: int | None = None
) -> Iterator[Deployment]:
    """PostgreSQL + code server + webserver + daemon with deploy/dagster.yaml and deploy/workspace.yaml
    (``max_concurrent_runs`` replaces the run queue's limit there)."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = (DEPLOY / "dagster.yaml").read_text()
    if max_concurrent_runs is not None:
        instance_yaml = instance_yaml.replace("max_concurrent_runs: 8", f"max_concurrent_runs: {max_concurrent_runs}")
    (home / "dagster.yaml").write_text(instance_yaml)
    code_port, web_port = free_port(), free_port()
    workspace = tmp / "workspace.yaml"  # deploy/workspace.yaml with this test's free port
    workspace.write_text((DEPLOY / "workspace.yaml").read_text().replace("port: 4266", f"port: {code_port}"))
    with postgres_server() as pg:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **pg.env(),
            **extra_env,
        }
        deploy = Deployment(env=env, workspace=workspace, web_port=web_port, logs=tmp)
        code = ["code-server", "start", "-m", "condpt_dagster.defs.definitions", "-h", "127.0.0.1"]
        deploy.services["code_server"] = Service(
            "code-server",
            [str(BIN / "dagster"), *code, "-p", str(code_port), "--location-name", "condpt"],
            env,
            tmp / "code_server.log",
        ).start()
        try:
            wait_until(
                lambda: deploy.services["code_server"].alive() and _port_open(code_port),
                startup_timeout,
                "the code server",
            )
            deploy.services["webserver"] = Service(
                "dagster-webserver",
                [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)],
                env,
                tmp / "webserver.log",
            ).start()
            deploy.start_daemon()
            wait_until(
                lambda: deploy.services["webserver"].alive() and http_ok(f"http://127.0.0.1:{web_port}/server_info"),
                startup_timeout,
                "the webserver",
            )
            yield deploy
        finally:
            for service in reversed(list(deploy.services.values())):
                service.kill(signal.SIGTERM)
            time.sleep(0.5)
