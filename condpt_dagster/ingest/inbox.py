"""Registering shard files in the inbox without ever losing or duplicating data.

A shard's name is its partition key and its content is identified by sha256:
- a name that already exists with other content is refused, or with ``replace`` the old file is kept under
  ``inbox/.replaced/<name>.<sha12>`` and the new one takes its place (the inbox sensor then requests a run
  for the new content, and downstream partitions go unsynced when ``raw_documents`` gets a new data
  version); a key is one file whatever its extension (``a.jsonl`` then ``a.jsonl.gz`` is the same shard);
- the same content under a second name is refused, naming the shard that has it (``allow_duplicate``
  overrides);
- names must match the shard-key pattern in full (at most 128 characters), and files without a record
  (0 bytes, an empty gzip, blank lines only) are refused here, not at materialize.

Registration holds the inbox lock from the first check to the last rename, so two ``add-shards`` of one
name are serialized (the second sees the first's file) and each file is hashed as the bytes copied into
the inbox, so a source rewritten while it is registered cannot slip past the duplicate check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from condpt_dagster.core.hashing import cached_sha256
from condpt_dagster.core.io import exclusive_lock
from condpt_dagster.core.lake import DataLake, ShardNameError, split_shard_name
from condpt_dagster.ingest.records import IngestError, has_records


class RegistrationError(ValueError):
    """A shard file that cannot be registered; the message names the file and the reason."""


@dataclass(frozen=True)
class Registration:
    key: str
    source: Path
    target: Path
    sha256: str
    staged: Path | None = None  # the copy renamed onto ``target`` once every file passed (None: already there)
    replaces: tuple[Path, ...] = ()  # the shard's previous file(s), archived and removed before the rename


def inbox_hashes(lake: DataLake) -> dict[str, str]:
    """sha256 -> the first shard (by name) with that content, over the inbox files that can be shards
    (empty files and bad names skipped); a later file with the same content is a duplicate."""
    owners: dict[str, str] = {}
    for path in lake.inbox_files():
        with contextlib.suppress(ShardNameError):
            key, _ = split_shard_name(path)
            if path.stat().st_size:
                owners.setdefault(cached_sha256(path), key)
    return owners


def _stage(source: Path, target: Path, stack: contextlib.ExitStack) -> tuple[Path | None, str]:
    """Copy ``source`` to a hidden temporary beside ``target`` (removed when ``stack`` closes unless renamed)
    and return (the copy, the sha256 of the bytes copied); a file already at ``target`` is not copied."""
    if target.exists() and target.resolve() == source.resolve():
        return None, cached_sha256(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    stack.callback(tmp.unlink, missing_ok=True)
    digest = hashlib.sha256()
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    shutil.copystat(source, tmp)
    return tmp, digest.hexdigest()


def _existing_files(lake: DataLake, key: str, exclude: Path) -> tuple[Path, ...]:
    """The inbox's files of shard ``key`` (any extension), but ``exclude``."""
    found = []
    for path in lake.inbox_files():
        with contextlib.suppress(ShardNameError):
            if split_shard_name(path)[0] == key and path.resolve() != exclude.resolve():
                found.append(path)
    return tuple(found)


def _check_one(lake: DataLake, plan: Registration, known: dict[str, str], replace: bool, allow_duplicate: bool):
    path, key, sha = plan.source, plan.key, plan.sha256
    try:
        if not has_records(plan.staged or plan.target, split_shard_name(path)[1]):
            raise RegistrationError(f"{path}: no records (empty or blank lines only); nothing to register")
    except IngestError as exc:
        raise RegistrationError(str(exc)) from exc
    others = _existing_files(lake, key, exclude=plan.target)  # the same key under another extension
    if known.get(sha) == key and not others:
        return Registration(key, path, plan.target, sha)  # the inbox holds this content under this name
    if known.get(sha, key) != key and not allow_duplicate:
        raise RegistrationError(
            f"{path}: same content as shard {known[sha]!r} (sha256 {sha[:12]}); it would be trained on twice "
            "(--allow-duplicate to register it anyway)"
        )
    same_name = plan.staged is not None and plan.target.exists() and cached_sha256(plan.target) != sha
    replaced = (*others, *([plan.target] if same_name else []))
    if replaced and not replace:
        raise RegistrationError(
            f"{path}: shard {key!r} already exists with other content ({', '.join(p.name for p in replaced)}); "
            "use --replace to register a new version (the old file is kept in inbox/.replaced/)"
        )
    return Registration(key, path, plan.target, sha, plan.staged, replaced)


def _plan(lake: DataLake, source: Path, known: dict[str, str], stack: contextlib.ExitStack, **options: bool):
    try:
        key, _ = split_shard_name(source)
    except ShardNameError as exc:
        raise RegistrationError(str(exc)) from exc
    if source.stat().st_size == 0:
        raise RegistrationError(f"{source}: file is empty (0 bytes); nothing to register")
    target = lake.inbox / source.name
    staged, sha = _stage(source, target, stack)
    return _check_one(lake, Registration(key, source, target, sha, staged), known, **options)


def register_shards(
    lake: DataLake, paths: list[Path], replace: bool = False, allow_duplicate: bool = False
) -> list[Registration]:
    """Check every file first (a refused file registers nothing), then archive the files replaced and rename
    the copies into place; all under the inbox lock."""
    with exclusive_lock(lake.inbox_lock), contextlib.ExitStack() as stack:
        known, plans = inbox_hashes(lake), []
        for source in map(Path, paths):
            plan = _plan(lake, source, known, stack, replace=replace, allow_duplicate=allow_duplicate)
            plans.append(plan)
            known[plan.sha256] = plan.key
        for plan in plans:
            for old in plan.replaces:
                lake.replaced_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(old, lake.replaced_dir / f"{old.name}.{cached_sha256(old)[:12]}")
                if old != plan.target:  # the same key under another extension: the new file takes its place
                    old.unlink()
            if plan.staged is not None:
                os.replace(plan.staged, plan.target)
    return plans
