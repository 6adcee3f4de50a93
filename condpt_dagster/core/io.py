"""Atomic writes: an output appears whole under its final name, or the previous one stays.

Every file the pipeline writes goes through :func:`atomic_output` (or :func:`atomic_write_text`), and every
output folder through :func:`atomic_dir`, so a killed run never leaves a half-written file that a later
step would read. What a killed run does leave — its temporaries — is removed by the next writer of the same
files (:func:`clear_orphans`), which holds the shard's lock (:func:`shard_write_lock`) so no live writer's
temporaries are touched.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from condpt_dagster.core.lake import DataLake

_UMASK = os.umask(0)
os.umask(_UMASK)
_FULL = {errno.ENOSPC, errno.EDQUOT}


class DiskFull(OSError):
    """The disk (or quota) filled while an output was written: nothing was published, the previous output
    under that name, if any, is untouched, and the temporary is gone."""

    @classmethod
    def writing(cls, final: Path, cause: OSError) -> DiskFull:
        total = shutil.disk_usage(final.parent).total if final.parent.is_dir() else 0
        return cls(
            cause.errno,
            f"no space left on the device while writing {final} (a {total / 2**20:,.0f} MiB file system); "
            f"nothing was published and {'its previous version is intact' if final.exists() else 'it does not exist'}: "
            "free some space (or point CONDPT_DATA_ROOT at a larger disk) and rerun",
        )


def is_full(exc: BaseException) -> bool:
    return (
        isinstance(exc, OSError)
        and not isinstance(exc, DiskFull)
        and (exc.errno in _FULL or "No space left on device" in str(exc))
    )


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are meant to be shared read-only
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # first: frees the space the message reports
        if is_full(exc):
            raise DiskFull.writing(final, exc) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _shareable(folder: Path) -> None:
    """Give a folder's contents the modes the umask gives new files (libraries writing through mkstemp or
    mkdtemp leave 0600 / 0700): published outputs are meant to be read by everyone the umask allows."""
    folder.chmod(0o777 & ~_UMASK)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~_UMASK)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; swap it in for ``path`` if the block succeeds.

    The old folder is moved aside first and removed after the swap, so at every moment ``path`` is either
    the complete old folder or the complete new one.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp"
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _shareable(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_full(exc):
            raise DiskFull.writing(final, exc) from exc
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def temporaries_of(path: Path) -> list[Path]:
    """The temporaries atomic_output / atomic_dir create for ``path``."""
    pattern = [f".{path.name}.*.tmp", f".{path.name}.tmp", f".{path.name}.old"]
    return [p for glob in pattern for p in path.parent.glob(glob)] if path.parent.is_dir() else []


def clear_orphans(paths: Iterable[Path]) -> list[Path]:
    """Remove temporaries left by killed writers of ``paths``; call only while holding their lock."""
    removed = []
    for path in paths:
        for orphan in temporaries_of(Path(path)):
            if orphan.is_dir():
                shutil.rmtree(orphan, ignore_errors=True)
            else:
                orphan.unlink(missing_ok=True)
            removed.append(orphan)
    return removed


@contextmanager
def exclusive_lock(lock_path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """An advisory lock on ``lock_path`` (``filelock``: flock on Linux), released when the block ends or the
    process dies; ``on_wait`` is called once when another process holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def write_lock(
    lock_path: Path, outputs: Iterable[Path], what: str, log: Callable[[str], None] = print
) -> Iterator[list[Path]]:
    """Exclusive access to ``outputs`` for a whole asset run (read inputs, write, check, publish); first
    removes the temporaries a killed run left behind, and yields them."""

    def waiting() -> None:
        log(f"{what}: another run is writing it; waiting for its lock {lock_path}")

    with exclusive_lock(lock_path, on_wait=waiting):
        removed = clear_orphans(outputs)
        if removed:
            log(f"{what}: removed {len(removed)} temporary file(s) left by a killed run")
        yield removed


def shard_write_lock(lake: DataLake, shard: str, log: Callable[[str], None] = print):
    """The write lock of one shard: every per-shard asset holds it while it runs."""
    return write_lock(lake.shard_lock(shard), lake.shard_outputs(shard), f"shard {shard!r}", log)
