"""A data lake in an object store (``[lake] root = "s3://bucket/prefix"``), worked on through a local cache.

Every stage reads and writes a local folder (atomic renames, file locks, polars/pyarrow/DuckDB files), so
a remote lake is mirrored: before a step runs, objects that changed in the bucket are downloaded into the
cache (each at most once per machine); after it, files the step wrote, replaced or deleted in the cache are
uploaded or deleted in the bucket. ``.condpt-sync/index.json`` remembers what was synced (size, mtime and
the object's ETag), so both directions move only what changed. The filesystem is fsspec's (s3fs for s3://);
credentials and the endpoint come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``), never from settings files.

Not synced: hidden names (temporaries, locks, ``inbox/.replaced``), ``dagster_home/``, ``sample_wheels/``
and DuckDB's ``.wal``. Steps on different machines writing the same file concurrently (the audit database)
are not serialized: the last upload wins.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condpt_dagster.core.io import atomic_output, atomic_write_text, exclusive_lock

LOCAL_ONLY_DIRS = ("dagster_home", "sample_wheels")
SYNC_DIR = ".condpt-sync"


class ObjectStoreError(RuntimeError):
    """The object store cannot be reached or refused an operation; the message names the URL."""


def is_remote(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


def default_cache(url: str) -> Path:
    """Where a remote lake's working copy lives unless ``[lake] cache`` says otherwise."""
    protocol, _, rest = url.partition("://")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "condpt" / "lake" / protocol / rest.strip("/")


def synced(rel: str) -> bool:
    """Whether a lake-relative path travels between the cache and the bucket."""
    parts = rel.split("/")
    if parts[0] in LOCAL_ONLY_DIRS or any(p.startswith(".") for p in parts):
        return False
    return not rel.endswith(".wal")


def _filesystem(url: str):
    import fsspec

    protocol = url.split("://", 1)[0]
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):  # fail in seconds, not after botocore's minutes of retries
        options["config_kwargs"] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}
    return fsspec.core.url_to_fs(url, **options)


def _identity(info: dict[str, Any]) -> str:
    """What changes when an object is rewritten: its ETag, or size and time where the store has none."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag)
    return f"{info.get('size')}:{info.get('mtime') or info.get('LastModified') or info.get('created')}"


@dataclass
class Bucket:
    """The objects under an object-store URL: listed with their identities, errors naming the URL."""

    url: str

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.fs, self.prefix = _filesystem(self.url)

    def key(self, rel: str) -> str:
        return posixpath.join(self.prefix, rel)

    def error(self, action: str, exc: Exception) -> ObjectStoreError:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return ObjectStoreError(f"object store {self.url}: {action} failed: {reason}")

    def objects(self) -> dict[str, dict[str, Any]]:
        """Lake-relative key -> {size, etag} of every synced object under the prefix."""
        self.fs.invalidate_cache()  # another machine may have written since the last listing
        try:
            found = self.fs.find(self.prefix, detail=True)
            if not found and not self.fs.exists(self.prefix.split("/")[0]):
                raise FileNotFoundError(f"bucket {self.prefix.split('/')[0]!r} does not exist")
        except Exception as exc:  # botocore/aiohttp raise many types; all mean the same to the user
            raise self.error("listing", exc) from exc
        objects = {}
        for key, info in found.items():
            rel = posixpath.relpath(key, self.prefix)
            if info.get("type", "file") == "file" and synced(rel):
                objects[rel] = {"size": int(info.get("size") or 0), "etag": _identity(info)}
        return objects


@dataclass
class LakeMirror:
    """The bucket prefix ``url`` mirrored into the local folder ``cache``."""

    url: str
    cache: Path

    def __post_init__(self) -> None:
        self.bucket = Bucket(self.url)
        self.url, self.fs = self.bucket.url, self.bucket.fs
        self._index_path = self.cache / SYNC_DIR / "index.json"
        self._lock_path = self.cache / SYNC_DIR / "lock"

    def _load_index(self) -> dict[str, dict[str, Any]]:
        return json.loads(self._index_path.read_text()) if self._index_path.is_file() else {}

    def _save_index(self, index: dict[str, dict[str, Any]]) -> None:
        atomic_write_text(self._index_path, json.dumps(index, sort_keys=True))

    def remote_objects(self) -> dict[str, dict[str, Any]]:
        return self.bucket.objects()

    def local_files(self) -> dict[str, os.stat_result]:
        files = {}
        for path in self.cache.rglob("*"):
            rel = path.relative_to(self.cache).as_posix()
            if path.is_file() and synced(rel):
                files[rel] = path.stat()
        return files

    # ------------------------------------------------------------------------------------ directions

    def pull(self, skip_dirs: Iterable[str] = (), only_dirs: Iterable[str] = ()) -> dict[str, int]:
        """Download objects that changed since the last sync (all, or those under ``only_dirs``, minus those
        under ``skip_dirs``); remove cached files whose object was deleted."""
        skip, only = (tuple(d.rstrip("/") for d in dirs) for dirs in (skip_dirs, only_dirs))

        def under(rel: str, names: tuple[str, ...]) -> bool:  # the file itself, or anything in the folder
            return rel in names or rel.startswith(tuple(f"{n}/" for n in names))

        def wanted(rel: str) -> bool:
            return not under(rel, skip) and (not only or under(rel, only))

        with exclusive_lock(self._lock_path):
            index, remote = self._load_index(), self.remote_objects()
            counts = {"downloaded": 0, "removed": 0}
            for rel, meta in remote.items():
                local = self.cache / rel
                known = index.get(rel)
                fresh = known and known["etag"] == meta["etag"] and local.is_file()
                if not wanted(rel) or fresh:
                    continue
                local.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with atomic_output(local) as tmp:
                        self.fs.get_file(self.bucket.key(rel), str(tmp))
                except Exception as exc:
                    raise self.bucket.error(f"downloading {rel}", exc) from exc
                stat = local.stat()
                index[rel] = {**meta, "mtime_ns": stat.st_mtime_ns, "local_size": stat.st_size}
                counts["downloaded"] += 1
            for rel in [r for r in index if r not in remote and wanted(r)]:
                (self.cache / rel).unlink(missing_ok=True)  # deleted in the bucket by another machine
                del index[rel]
                counts["removed"] += 1
            self._save_index(index)
        return counts

    def push(self) -> dict[str, int]:
        """Upload cached files written or replaced since the last sync; delete objects whose file is gone."""
        with exclusive_lock(self._lock_path):
            index, local = self._load_index(), self.local_files()
            counts = {"uploaded": 0, "deleted": 0}
            for rel, stat in local.items():
                known = index.get(rel)
                if known and known["mtime_ns"] == stat.st_mtime_ns and known["local_size"] == stat.st_size:
                    continue
                try:
                    self.fs.put_file(str(self.cache / rel), self.bucket.key(rel))
                    info = self.fs.info(self.bucket.key(rel))
                except Exception as exc:
                    raise self.bucket.error(f"uploading {rel}", exc) from exc
                etag = _identity(info)
                index[rel] = {"size": stat.st_size, "etag": etag, "mtime_ns": stat.st_mtime_ns}
                index[rel]["local_size"] = stat.st_size
                counts["uploaded"] += 1
            for rel in [r for r in index if r not in local]:
                try:
                    self.fs.rm_file(self.bucket.key(rel))
                except FileNotFoundError:
                    pass
                except Exception as exc:
                    raise self.bucket.error(f"deleting {rel}", exc) from exc
                del index[rel]
                counts["deleted"] += 1
            self._save_index(index)
        return counts
