"""A local S3-compatible server (moto_server) on a free loopback port, for object-store lake tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.e2e_util import free_port, http_ok, wait_until

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(log_path: Path) -> Iterator[dict[str, str]]:
    """Start moto's S3 server; yield the environment that points boto/s3fs at it."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited early:\n{log_path.read_text()[-3000:]}")
        return http_ok(f"{url}/moto-api/")

    try:
        wait_until(up, 60, "moto_server")
        yield {**S3_ENV, "AWS_ENDPOINT_URL": url}
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
