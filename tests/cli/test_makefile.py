"""The Makefile's knobs a user turns: what `make` would run, read with a dry run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ui_port_can_be_chosen(tmp_path):
    dry = subprocess.run(
        ["make", "-n", "-C", str(REPO), "ui", "UI_PORT=3111", f"DATA={tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    dev = [line for line in dry.stdout.splitlines() if "dagster dev" in line]
    assert dev and dev[-1].rstrip().endswith("-p 3111"), dry.stdout
