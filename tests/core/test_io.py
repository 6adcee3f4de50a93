"""Atomic folder writes publish contents with the modes the umask gives, whatever wrote them."""

from __future__ import annotations

import os
import stat
import tempfile

from condpt_dagster.core.io import _UMASK, atomic_dir


def test_atomic_dir_publishes_files_as_the_umask_allows(tmp_path):
    with atomic_dir(tmp_path / "out") as tmp:
        fd, name = tempfile.mkstemp(dir=tmp)  # 0600, as safetensors and other libraries leave files
        os.write(fd, b"weights")
        os.close(fd)
        inner = tempfile.mkdtemp(dir=tmp)  # 0700
        (tmp / "plain.json").write_text("{}")
    published = tmp_path / "out"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in published.rglob("*")}
    assert modes[os.path.basename(name)] == 0o666 & ~_UMASK
    assert modes[os.path.basename(inner)] == 0o777 & ~_UMASK
    assert modes["plain.json"] == 0o666 & ~_UMASK
    assert stat.S_IMODE(published.stat().st_mode) == 0o777 & ~_UMASK
