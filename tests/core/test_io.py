"""Atomic writes publish contents with the modes the umask gives, whatever wrote them, and a full disk
stops a write with a clear error that publishes nothing and keeps the previous version."""

from __future__ import annotations

import errno
import gzip
import json
import os
import random
import stat
import subprocess
import tempfile

import pyarrow.parquet as pq
import pytest

from condpt_dagster.core.io import _UMASK, DiskFull, atomic_dir, atomic_output, temporaries_of
from condpt_dagster.core.lake import DataLake
from condpt_dagster.stages.raw_documents import ingest_shard


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


# ------------------------------------------------------------------------------------------ a full disk


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_names_the_output_and_keeps_the_previous_version(tmp_path):
    target = tmp_path / "labels.parquet"
    target.write_text("previous")
    full = r"no space left.*labels\.parquet.*previous version is intact"
    with pytest.raises(DiskFull, match=full), atomic_output(target) as tmp:
        tmp.write_text("half")
        _no_space()
    assert target.read_text() == "previous"
    assert temporaries_of(target) == []


def test_a_full_disk_while_filling_a_folder_publishes_nothing(tmp_path):
    with pytest.raises(DiskFull, match=r"model.*does not exist"), atomic_dir(tmp_path / "model") as tmp:
        (tmp / "weights").write_bytes(b"w")
        _no_space()
    assert not (tmp_path / "model").exists()
    assert temporaries_of(tmp_path / "model") == []


def test_other_write_errors_are_not_called_a_full_disk(tmp_path):
    with pytest.raises(PermissionError), atomic_output(tmp_path / "x") as tmp:
        raise PermissionError(errno.EACCES, "denied", str(tmp))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs the right to mount, as CI's root has; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _shard(path, docs: int, words: int) -> None:
    rng = random.Random(docs)
    with gzip.open(path, "wt") as fh:
        for i in range(docs):
            text = " ".join(f"{rng.getrandbits(40):x}" for _ in range(words))  # incompressible words
            fh.write(json.dumps({"id": f"d{i}", "text": f"Document {i}. {text}."}) + "\n")


def test_ingest_on_a_real_full_disk_stops_clearly_and_leaves_published_shards_whole(tmp_path, small_disk):
    lake = DataLake.at(small_disk / "data")
    small, big = tmp_path / "small.jsonl.gz", tmp_path / "big.jsonl.gz"
    _shard(small, docs=20, words=200)
    _shard(big, docs=1500, words=400)  # 6.6 MB of random hex words (~3.3 MB compressed): cannot fit
    ingest_shard(small, "a", lake.raw("a"), lake.quarantine("a"))
    before = pq.read_table(lake.raw("a"))
    with pytest.raises(DiskFull, match=r"no space left on the device while writing .*data"):
        ingest_shard(big, "b", lake.raw("b"), lake.quarantine("b"))
    with pytest.raises(DiskFull, match=r"previous version is intact"):
        ingest_shard(big, "a", lake.raw("a"), lake.quarantine("a"))  # a rerun of a published shard
    assert pq.read_table(lake.raw("a")).equals(before)
    assert not lake.raw("b").exists()
    assert [p.name for p in small_disk.rglob("*.tmp")] == []
