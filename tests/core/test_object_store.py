"""LakeMirror on fsspec's in-memory filesystem: incremental in both directions, deletions propagated,
temporaries, locks and machine-local folders never leave the cache. (The S3 path, with moto_server, is
tests/e2e/test_object_store_lake.py.)"""

from __future__ import annotations

import uuid

import fsspec
import pytest

from condpt_dagster.core.object_store import LakeMirror, default_cache, is_remote, synced


@pytest.fixture
def url():
    return f"memory://bucket-{uuid.uuid4().hex[:8]}/lake"


def write(root, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_what_is_synced():
    assert synced("labels/s1.parquet") and synced("checkpoints/run/deepspeed/latest") and synced("audit.duckdb")
    for rel in (
        "labels/.s1.parquet.x1.tmp",
        "checkpoints/run/.lock",
        "inbox/.replaced/a.jsonl",
        "audit.duckdb.wal",
        "dagster_home/dagster.yaml",
        "sample_wheels/x.whl",
    ):
        assert not synced(rel), rel
    assert is_remote("s3://b/p") and not is_remote("/srv/lake") and not is_remote("file:///srv/lake")
    assert default_cache("s3://b/p/").parts[-3:] == ("s3", "b", "p")


def test_push_and_pull_move_only_changes_and_propagate_deletions(tmp_path, url):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "labels/s1.parquet", b"one")
    write(a, "blocks/s1.tokens.npy", b"tokens")
    write(a, "labels/.s1.parquet.123.tmp", b"partial")  # a writer's temporary: never uploaded
    write(a, "dagster_home/dagster.yaml", b"local")
    machine_a, machine_b = LakeMirror(url, a), LakeMirror(url, b)
    assert machine_a.push() == {"uploaded": 2, "deleted": 0}
    assert machine_a.push() == {"uploaded": 0, "deleted": 0}  # nothing changed since
    assert sorted(machine_a.remote_objects()) == ["blocks/s1.tokens.npy", "labels/s1.parquet"]

    assert machine_b.pull() == {"downloaded": 2, "removed": 0}
    assert (b / "labels/s1.parquet").read_bytes() == b"one"
    assert machine_b.pull() == {"downloaded": 0, "removed": 0}

    write(b, "labels/s1.parquet", b"one, relabeled")  # machine b rewrites a file and deletes another
    (b / "blocks/s1.tokens.npy").unlink()
    assert machine_b.push() == {"uploaded": 1, "deleted": 1}
    assert machine_a.pull() == {"downloaded": 1, "removed": 1}
    assert (a / "labels/s1.parquet").read_bytes() == b"one, relabeled"
    assert not (a / "blocks/s1.tokens.npy").exists()


def test_pull_can_be_limited_to_folders(tmp_path, url):
    source = tmp_path / "src"
    for rel in ("inbox/s1.jsonl", "checkpoints/run/weights.bin", "labels/s1.parquet", "audit.duckdb"):
        write(source, rel, rel.encode())
    LakeMirror(url, source).push()
    sensor, worker = LakeMirror(url, tmp_path / "sensor"), LakeMirror(url, tmp_path / "worker")
    assert sensor.pull(only_dirs=("inbox",)) == {"downloaded": 1, "removed": 0}
    assert worker.pull(skip_dirs=("checkpoints",)) == {"downloaded": 3, "removed": 0}
    assert not (tmp_path / "worker/checkpoints").exists()
    auditor = LakeMirror(url, tmp_path / "auditor")
    assert auditor.pull(only_dirs=("audit.duckdb",)) == {"downloaded": 1, "removed": 0}


def test_an_object_rewritten_with_the_same_size_is_downloaded_again(tmp_path, url):
    writer, reader = LakeMirror(url, tmp_path / "w"), LakeMirror(url, tmp_path / "r")
    write(tmp_path / "w", "labels/s1.parquet", b"aaaa")
    writer.push()
    reader.pull()
    fs, prefix = fsspec.core.url_to_fs(url)
    fs.pipe(f"{prefix}/labels/s1.parquet", b"bbbb")  # another machine, same size
    assert reader.pull()["downloaded"] == 1
    assert (tmp_path / "r/labels/s1.parquet").read_bytes() == b"bbbb"
