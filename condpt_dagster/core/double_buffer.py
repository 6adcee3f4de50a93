"""A DuckDB file that one writer updates while readers keep reading, without copying it for every write.

Readers open the published file read-only and must never meet a writer's lock or a half-written database.
Copying the whole file for every write (the earlier design) made each write cost the size of the database:
at a million documents every shard's audit upsert copied ~0.5 GB. Instead the writer keeps two generations
of the database in a hidden folder beside it, and the published name is a hard link to one of them:

- a write goes into the generation that is *not* published, in place: first it replays what that
  generation missed (the keys the other generation was written with since, from ``journal.json``: the
  caller copies those rows from the published generation, attached read-only), then the caller's writes;
  then it is checkpointed and hard-linked over the published name (an atomic rename);
- so a write costs what it changes, plus copying the previous write's rows, not the size of the database.
  Below ``COPY_BELOW_BYTES`` the writer copies the published file instead, which is cheaper there.

The keys are the caller's (``label_audit``: "shard X", "checkpoints"). The
published file is always whole: a failed write leaves it untouched. Whenever the state on disk cannot be
trusted the writer falls back to the old cost, copying the published file into a fresh generation:
- the published file is not one of the generations (a legacy lake, a file replaced by hand or synced from
  an object store: the folder is hidden, so it is never synced);
- the unpublished generation is still open: another process's reader (DuckDB's own file lock refuses the
  writer) or a connection of this very process (found through ``/proc/self/fd``; file locks do not
  separate connections of one process);
- the last write failed or wrote something no key describes (``DuckDBWrite.untracked``), or a replay fails.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from condpt_dagster.core.io import DiskFull, atomic_write_text, clear_orphans, exclusive_lock, is_full

GENERATIONS = ("a", "b")
# Below this size copying the published file is cheaper than replaying a write into the other generation
# (bench/audit_upsert.py, shards of 10,000 documents with append-only checkpoints: the copy's median upsert
# passed the replay's between 110 and 135 MiB; with the checkpoint vacuum on, before part 9, it had at ~400 MiB).
COPY_BELOW_BYTES = 128 * 2**20
JOURNAL = "journal.json"
RECOPY = "*"  # a generation's journal entry when only a fresh copy of the published file can be trusted


@dataclass
class DuckDBWrite:
    """One write session: the connection to the unpublished generation and what was written through it."""

    con: duckdb.DuckDBPyConnection
    keys: list[str] = field(default_factory=list)  # replayable writes, in order
    untracked: bool = False  # something was written that no key describes

    def wrote(self, key: str) -> None:
        if key not in self.keys:
            self.keys.append(key)


# replay(con, key): redo one keyed write on ``con`` by copying its rows from the attached database ``published``
# (the generation readers see now), in the transaction the writer opened for the replay.
Replay = Callable[[duckdb.DuckDBPyConnection, str], None]


def generations_dir(published: Path) -> Path:
    return published.with_name(f".{published.name}.generations")


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def open_in_this_process(path: Path) -> bool:
    """Whether any file descriptor of this process points at ``path``'s file (True where /proc is missing)."""
    target = _inode(path)
    if target is None:
        return False
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for fd in fds:
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == target:
            return True
    return False


@dataclass
class _Plan:
    target: str  # the generation to write
    behind: list[str] | str  # keys to replay into it, or RECOPY
    other: str | None  # the published generation, None when the published file is no generation


def _read_journal(folder: Path) -> dict[str, list[str] | str]:
    """What each generation is owed; anything unreadable or malformed counts as owed a fresh copy."""
    try:
        journal = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(journal, dict):
        return {}

    def valid(entry: object) -> bool:
        return entry == RECOPY or (isinstance(entry, list) and all(isinstance(key, str) for key in entry))

    return {g: entry for g, entry in journal.items() if g in GENERATIONS and valid(entry)}


def _plan(published: Path, folder: Path, journal: dict[str, list[str] | str]) -> _Plan:
    current = _inode(published)
    live = next((g for g in GENERATIONS if current and _inode(folder / f"{g}.duckdb") == current), None)
    if live is None:
        return _Plan(GENERATIONS[0], RECOPY, None)
    target = GENERATIONS[1 - GENERATIONS.index(live)]
    behind = journal.get(target, RECOPY)
    if not (folder / f"{target}.duckdb").is_file() or open_in_this_process(folder / f"{target}.duckdb"):
        behind = RECOPY
    if published.stat().st_size < COPY_BELOW_BYTES:
        behind = RECOPY  # small: a copy costs less than a replay
    return _Plan(target, behind, live)


def _fresh_copy(published: Path, path: Path) -> None:
    """``path`` becomes a copy of the published file (empty when there is none); readers of its old file keep it."""
    path.unlink(missing_ok=True)  # a reader that still has it open keeps reading its own inode
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    if published.is_file():
        try:
            shutil.copyfile(published, path)
        except OSError as exc:
            path.unlink(missing_ok=True)
            if is_full(exc):
                raise DiskFull.writing(published, exc) from exc
            raise


def _connect(published: Path, path: Path, schema: str, plan: _Plan, replay: Replay) -> duckdb.DuckDBPyConnection:
    """A writable connection to ``path`` holding the published content: caught up by replaying what it missed
    from the published generation (attached read-only as ``published``), or copied afresh when it is locked
    by a reader, damaged, or its replay fails."""
    if plan.behind != RECOPY:
        con = None
        try:
            con = duckdb.connect(str(path))
            con.execute(schema)
            if plan.behind:
                source = str(path.with_name(f"{plan.other}.duckdb")).replace("'", "''")
                con.execute(f"ATTACH '{source}' AS published (READ_ONLY)")
                con.execute("BEGIN TRANSACTION")
                for key in plan.behind:
                    replay(con, key)
                con.execute("COMMIT")
                con.execute("DETACH published")
            return con
        except (duckdb.Error, OSError, ValueError):  # a reader's lock, a damaged file, a replay that fails
            if con is not None:
                con.close()
    _fresh_copy(published, path)
    con = duckdb.connect(str(path))
    con.execute(schema)
    return con


def _publish(published: Path, path: Path) -> None:
    link = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    link.unlink(missing_ok=True)
    os.link(path, link)
    os.replace(link, published)


@contextmanager
def double_buffered_write(published: Path, schema: str, replay: Replay) -> Iterator[DuckDBWrite]:
    """Write the database published at ``published`` (see the module docstring); ``schema`` runs first on
    every connection, ``replay(con, key)`` redoes one keyed write. Published when the block succeeds."""
    folder = generations_dir(published)
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(published.with_name(published.name + ".lock")):  # one writer; readers never blocked
        clear_orphans([published])  # hard links left by a killed writer
        journal_path, journal = folder / JOURNAL, _read_journal(folder)
        plan = _plan(published, folder, journal)
        path = folder / f"{plan.target}.duckdb"
        journal[plan.target] = RECOPY  # until this write is published, the target's content is uncertain
        atomic_write_text(journal_path, json.dumps(journal))
        con = _connect(published, path, schema, plan, replay)
        try:
            write = DuckDBWrite(con)
            yield write
            con.execute("CHECKPOINT")
        except OSError as exc:
            if is_full(exc):
                raise DiskFull.writing(published, exc) from exc
            raise
        finally:
            con.close()
        os.chmod(path, 0o644)
        journal[plan.target] = []
        if plan.other is None or write.untracked or journal.get(plan.other) == RECOPY:
            journal = {plan.target: [], **{g: RECOPY for g in GENERATIONS if g != plan.target}}
        else:
            owed = journal.get(plan.other, [])
            journal[plan.other] = [*owed, *(key for key in write.keys if key not in owed)]
        atomic_write_text(journal_path, json.dumps(journal))  # before publishing: never promise less than owed
        _publish(published, path)
