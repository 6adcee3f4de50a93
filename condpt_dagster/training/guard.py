"""Launch guard: training processes die with their parent, and one run folder has one live launcher.

    python -m condpt_dagster.training.guard --lock checkpoints/<run>/.lock -- <launcher command...>

torchrun starts every rank in a session of its own, so killing the launcher's process group (or the
Dagster run worker above it) used to leave ranks training — and writing the run folder — after a relaunch
had started. Now:
- :func:`die_with_parent` (Linux ``PR_SET_PDEATHSIG``) makes a process receive SIGKILL when its parent
  dies; the guard sets it for the launcher (kept across ``exec``) and every rank sets it at start
  (training/train.py), so a SIGKILL anywhere above takes the whole tree down;
- the guard holds an exclusive lock on the run folder for the launcher's lifetime (the lock file
  descriptor survives ``exec``); a second launch of the same run refuses while the first is alive.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class RunFolderBusy(RuntimeError):
    """Another live process holds the run folder's lock."""


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent process dies; exit now if it already has."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # orphaned before the request took effect
        os._exit(1)


def hold_run_lock(lock_path: Path) -> int:
    """Take the run folder's lock for this process and the program it execs; refuse if it is held."""
    # flock by hand, not filelock: the lock must outlive ``exec`` into the launcher (an inheritable
    # descriptor, the launcher's pid written in the file), and filelock keeps its descriptor private.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = Path(lock_path).read_text().strip() or "unknown"
        os.close(fd)
        raise RunFolderBusy(
            f"{lock_path.parent}: another launcher (pid {owner}) is training this run; wait for it or stop it"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    os.set_inheritable(fd, True)  # kept by the launcher after exec: the lock lives as long as it does
    return fd


def check_run_lock(lock_path: Path) -> None:
    """Raise RunFolderBusy if a live process holds the run folder's lock (without keeping it)."""
    os.close(hold_run_lock(lock_path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", required=True, type=Path, help="the run folder's lock file")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the launcher command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        hold_run_lock(args.lock)
    except RunFolderBusy as exc:
        raise SystemExit(str(exc)) from exc
    die_with_parent()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
