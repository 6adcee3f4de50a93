"""A DuckDB file written in two generations: readers keep whole snapshots, writes cost what they change,
and every state the writer cannot trust ends in a fresh copy, never in a wrong database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from condpt_dagster.core import double_buffer
from condpt_dagster.core.double_buffer import JOURNAL, RECOPY, double_buffered_write, generations_dir

SCHEMA = "CREATE TABLE IF NOT EXISTS t (key VARCHAR, value BIGINT)"


@pytest.fixture(autouse=True)
def replay_at_any_size(monkeypatch):
    """These databases are tiny: without this every write would take the cheaper copy."""
    monkeypatch.setattr(double_buffer, "COPY_BELOW_BYTES", 0)


class Source:
    """What the keyed writes mirror (the lake, for the audit database): key -> value."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.replayed: list[str] = []

    def apply(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        con.execute("DELETE FROM t WHERE key = ?", [key])
        con.execute("INSERT INTO t VALUES (?, ?)", [key, self.values[key]])

    def replay(self, con: duckdb.DuckDBPyConnection, key: str) -> None:
        """Copy the key's rows from the published generation (not from ``values``: they may have moved on)."""
        self.replayed.append(key)
        con.execute("DELETE FROM t WHERE key = ?", [key])
        con.execute("INSERT INTO t SELECT * FROM published.t WHERE key = ?", [key])

    def write(self, db, key: str, value: int) -> None:
        self.values[key] = value
        with double_buffered_write(db, SCHEMA, self.replay) as write:
            self.apply(write.con, key)
            write.wrote(key)


def written(tmp_path, *pairs: tuple[str, int]) -> tuple[Path, Source]:
    """A database with ``pairs`` written one write each, and the source it mirrors."""
    db, source = tmp_path / "audit.duckdb", Source()
    for key, value in pairs:
        source.write(db, key, value)
    return db, source


def rows(db) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT key, value FROM t").fetchall())


def inode(path) -> int:
    return path.stat().st_ino


def test_generations_alternate_in_place_and_replay_what_they_missed(tmp_path):
    db, source = tmp_path / "audit.duckdb", Source()
    source.write(db, "x", 1)  # the first write has nothing to start from
    source.write(db, "y", 2)
    folder = generations_dir(db)
    a, b = folder / "a.duckdb", folder / "b.duckdb"
    assert inode(db) == inode(b)
    kept = inode(a)
    source.write(db, "x", 3)  # into a, in place: replays y, which only b had
    assert inode(db) == inode(a) == kept, "the unpublished generation is written in place, not copied"
    assert source.replayed == ["y"]
    source.write(db, "z", 4)
    source.write(db, "x", 5)
    assert rows(db) == {"x": 5, "y": 2, "z": 4} == source.values
    assert source.replayed == ["y", "x", "z"]


def test_a_reader_keeps_its_snapshot_and_the_writer_copies_around_it(tmp_path):
    db, source = written(tmp_path, ("x", 1), ("y", 2), ("x", 3))
    reader = duckdb.connect(str(db), read_only=True)  # generation a, now published
    source.write(db, "y", 4)  # into b
    source.write(db, "z", 5)  # a is open in this process: a fresh copy, not a write into the reader's file
    assert dict(reader.execute("SELECT key, value FROM t").fetchall()) == {"x": 3, "y": 2}
    reader.close()
    assert rows(db) == {"x": 3, "y": 4, "z": 5}
    source.write(db, "x", 6)
    assert rows(db) == source.values


def test_a_reader_in_another_process_holds_the_file_lock(tmp_path):
    db, source = written(tmp_path, ("x", 1), ("y", 2))
    hold = (
        f"import duckdb, sys; con = duckdb.connect({str(db)!r}, read_only=True); "
        "print(con.execute('SELECT sum(value) FROM t').fetchone()[0], flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "3"
        source.write(db, "z", 3)  # into a
        source.write(db, "x", 7)  # b is locked by the other process's reader: copied around it
        assert rows(db) == {"x": 7, "y": 2, "z": 3}
    finally:
        proc.communicate("", timeout=60)
    source.write(db, "y", 8)
    assert rows(db) == source.values


def test_a_failed_write_leaves_the_published_file_and_the_next_write_recopies(tmp_path):
    db, source = written(tmp_path, ("x", 1), ("y", 2))
    published = db.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), double_buffered_write(db, SCHEMA, source.replay) as write:
        write.con.execute("INSERT INTO t VALUES ('half', 0)")
        raise RuntimeError("boom")
    assert db.read_bytes() == published
    assert '"a": "*"' in (generations_dir(db) / JOURNAL).read_text()
    source.write(db, "z", 3)
    assert rows(db) == {"x": 1, "y": 2, "z": 3}, "the half-written generation was not reused"


def test_untracked_writes_and_legacy_files_are_copied_not_replayed(tmp_path):
    db, source = tmp_path / "audit.duckdb", Source()
    with duckdb.connect(str(db)) as con:  # a database written before generations existed
        con.execute(SCHEMA)
        con.execute("INSERT INTO t VALUES ('old', 9)")
    source.values["old"] = 9
    source.write(db, "x", 1)
    assert rows(db) == {"old": 9, "x": 1}
    with double_buffered_write(db, SCHEMA, source.replay) as write:
        write.con.execute("INSERT INTO t VALUES ('raw', 5)")
        write.untracked = True
    assert '"a": "*"' in (generations_dir(db) / JOURNAL).read_text() and RECOPY == "*"
    source.values["raw"] = 5
    source.write(db, "y", 2)
    assert rows(db) == {"old": 9, "x": 1, "raw": 5, "y": 2}
    assert source.replayed == []  # every write so far started from a copy


@pytest.mark.parametrize("journal", ["not json", '["a"]', '{"a": [1, 2]}', '{"b": "everything"}', '{"b": ["x"'])
def test_a_damaged_journal_means_a_fresh_copy_not_a_failed_or_wrong_write(tmp_path, journal):
    db, source = written(tmp_path, ("x", 1), ("y", 2), ("x", 3))  # published: a; b is owed ["x"]
    (generations_dir(db) / JOURNAL).write_text(journal)
    source.write(db, "z", 4)
    assert rows(db) == {"x": 3, "y": 2, "z": 4} == source.values


def test_a_small_database_is_copied_rather_than_replayed(tmp_path, monkeypatch):
    fresh = double_buffer._fresh_copy
    monkeypatch.setattr(double_buffer, "COPY_BELOW_BYTES", 2**40)
    copies = []
    monkeypatch.setattr(double_buffer, "_fresh_copy", lambda *args: copies.append(args[1].name) or fresh(*args))
    db, source = written(tmp_path, ("x", 1), ("y", 2), ("x", 3))
    assert copies == ["a.duckdb", "b.duckdb", "a.duckdb"] and source.replayed == []  # y was never replayed
    assert rows(db) == source.values
