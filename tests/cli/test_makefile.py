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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_shell_finds_the_demos_settings_lake_and_venv(tmp_path):
    """Issue 32, point 4: after `make demo`, the README's bare `condpt ...` commands run in `make shell` see
    the demo's settings and lake (not the defaults) and the project's venv."""
    if not (REPO / ".venv" / "bin" / "condpt").exists():
        pytest.skip("no .venv: make install first")
    done = subprocess.run(
        ["make", "-s", "-C", str(REPO), "shell", f"DATA={tmp_path}", "CMD=env; command -v condpt"],
        capture_output=True,
        text=True,
        check=True,
    )
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert env["CONDPT_CONFIG"] == str(REPO / "configs" / "demo.toml")
    assert env["CONDPT_DATA_ROOT"] == str(tmp_path) and env["DAGSTER_HOME"] == str(tmp_path / "dagster_home")
    assert done.stdout.splitlines()[-1] == str(REPO / ".venv" / "bin" / "condpt")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_install_keeps_pip_and_setuptools_notices_out_of_the_output(tmp_path):
    """Issue 32, point 7: a fresh `make demo` printed pip's warnings about the machine's index settings and
    setuptools' "Editable installation" notice; pip's errors still show (-qq keeps ERROR)."""
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), "install", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    installs = [line for line in dry.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 3 and all("--quiet --quiet" in line for line in installs), installs
    assert "PYTHONWARNINGS=ignore::UserWarning" in installs[-1] and "-e" in installs[-1]
