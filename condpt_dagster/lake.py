"""The data lake: one root folder whose layout is the contract between pipeline stages.

See ../shared/design.md ("Data lake"). Every stage reads and writes through these paths, and every
write goes through :func:`atomic_output`, so a killed run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_EXTENSIONS = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
_SHARD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UMASK = os.umask(0)
os.umask(_UMASK)


class ShardNameError(ValueError):
    """A file name that cannot become a shard partition key."""


def split_shard_name(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(shard_key, extension)`` for an inbox file, e.g. ``news-0.jsonl.gz`` -> ``("news-0", ".jsonl.gz")``."""
    name = Path(path).name
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            key = name[: -len(ext)]
            if not _SHARD_KEY.match(key):
                raise ShardNameError(
                    f"{path}: shard name {key!r} must start with a letter or digit and contain only "
                    "letters, digits, '.', '_' and '-'"
                )
            return key, ext
    raise ShardNameError(f"{path}: unsupported file type; supported extensions are {', '.join(SUPPORTED_EXTENSIONS)}")


@dataclass(frozen=True)
class DataLake:
    """Paths of the data lake rooted at ``root``."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> DataLake:
        return cls(Path(root).expanduser().resolve())

    inbox = property(lambda self: self.root / "inbox")
    raw_dir = property(lambda self: self.root / "raw")
    quarantine_dir = property(lambda self: self.root / "quarantine")
    labels_dir = property(lambda self: self.root / "labels")
    conditioned_dir = property(lambda self: self.root / "conditioned")
    tokenizer_dir = property(lambda self: self.root / "tokenizer")
    blocks_dir = property(lambda self: self.root / "blocks")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    eval_dir = property(lambda self: self.root / "eval")
    audit_db = property(lambda self: self.root / "audit.duckdb")
    dagster_home = property(lambda self: self.root / "dagster_home")

    def raw(self, shard: str) -> Path:
        return self.raw_dir / f"{shard}.parquet"

    def quarantine(self, shard: str) -> Path:
        return self.quarantine_dir / f"{shard}.parquet"

    def labels(self, shard: str) -> Path:
        return self.labels_dir / f"{shard}.parquet"

    def conditioned(self, shard: str) -> Path:
        return self.conditioned_dir / f"{shard}.parquet"

    def inbox_files(self) -> list[Path]:
        """Inbox files with a supported extension, sorted by name (hidden and temporary files skipped)."""
        if not self.inbox.is_dir():
            return []
        return sorted(
            p
            for p in self.inbox.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.endswith(SUPPORTED_EXTENSIONS)
        )

    def inbox_file(self, shard: str) -> Path:
        """The one inbox file behind partition ``shard``."""
        matches = [self.inbox / f"{shard}{ext}" for ext in SUPPORTED_EXTENSIONS]
        found = [p for p in matches if p.is_file()]
        if not found:
            raise FileNotFoundError(
                f"shard {shard!r}: no inbox file {self.inbox}/{shard}{{{','.join(SUPPORTED_EXTENSIONS)}}}"
            )
        if len(found) > 1:
            raise FileExistsError(f"shard {shard!r}: ambiguous, several inbox files: {[p.name for p in found]}")
        return found[0]


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
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
