"""Every hash condpt computes: content hashes, data versions, config versions and deterministic draws.

- :func:`file_sha256` hashes a file's content; :func:`cached_sha256` does the same but remembers the result
  beside the file (keyed by size and mtime), so large model files are hashed once, not at every code
  location load.
- :func:`file_data_version` is the Dagster ``data_version`` of an output file.
- :func:`config_version` is the ``code_version`` of a stage: its revision plus the settings that determine
  its output.
- :func:`unit_hash` is a deterministic number in [0, 1) for dropout, held-out and validation draws.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from condpt_dagster.core.io import atomic_write_text

HASH_CACHE_NAME = ".condpt-sha256.json"  # beside the hashed files: {name: [size, mtime_ns, sha256]}
USER_HASH_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "condpt" / "sha256"


def file_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_data_version(path: str | os.PathLike[str]) -> str:
    """The data version of an output file: the first 128 bits of its sha256."""
    return file_sha256(path)[:32]


def config_version(revision: str, settings: dict[str, Any]) -> str:
    """A stage's code version: its logic revision plus every setting that changes its output."""
    payload = json.dumps({"revision": revision, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def unit_hash(*parts: str | int) -> float:
    """A deterministic number in [0, 1) from its parts (document id, seed, field...)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _cache_file(folder: Path) -> Path:
    """The cache beside the files, or a per-user one when that folder is read-only (a system install)."""
    if os.access(folder, os.W_OK):
        return folder / HASH_CACHE_NAME
    key = hashlib.blake2b(str(folder).encode(), digest_size=8).hexdigest()
    return USER_HASH_CACHE / f"{key}.json"


def _read_cache(path: Path) -> dict[str, list]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs a rehash
    return value if isinstance(value, dict) else {}


def cached_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, recomputed only when its size or mtime changed since the cached value."""
    file = Path(path).resolve()
    stat = file.stat()
    cache_path = _cache_file(file.parent)
    cache = _read_cache(cache_path)
    entry = cache.get(file.name)
    if isinstance(entry, list) and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
        return str(entry[2])
    digest = file_sha256(file)
    cache[file.name] = [stat.st_size, stat.st_mtime_ns, digest]
    with contextlib.suppress(OSError):  # caching is an optimization: an unwritable cache still hashes right
        atomic_write_text(cache_path, json.dumps(cache, indent=1, sort_keys=True))
    return digest
