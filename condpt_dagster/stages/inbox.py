"""Registering shard files in the inbox without ever losing or duplicating data.

A shard's name is its partition key and its content is identified by sha256:
- a name that already exists with other content is refused, or with ``replace`` the old file is kept under
  ``inbox/.replaced/<name>.<sha12>`` and the new one takes its place (the inbox sensor then requests a run
  for the new content, and downstream partitions go unsynced when ``raw_documents`` gets a new data
  version);
- the same content under a second name is refused, naming the shard that has it (``allow_duplicate``
  overrides);
- names must match the shard-key pattern in full and empty files are refused here, not at materialize.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from condpt_dagster.core.hashing import cached_sha256, file_sha256
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.lake import DataLake, ShardNameError, split_shard_name


class RegistrationError(ValueError):
    """A shard file that cannot be registered; the message names the file and the reason."""


@dataclass(frozen=True)
class Registration:
    key: str
    source: Path
    target: Path
    sha256: str
    replaces: Path | None = None  # the previous file of that name, archived before the copy
    in_inbox: bool = False  # the inbox already holds this content under this name: nothing to copy


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


def _plan_one(lake: DataLake, path: Path, known: dict[str, str], replace: bool, allow_duplicate: bool):
    try:
        key, _ = split_shard_name(path)
    except ShardNameError as exc:
        raise RegistrationError(str(exc)) from exc
    if path.stat().st_size == 0:
        raise RegistrationError(f"{path}: file is empty (0 bytes); nothing to register")
    sha = file_sha256(path)
    target = lake.inbox / path.name
    if known.get(sha) == key:
        return Registration(key, path, target, sha, in_inbox=True)
    if sha in known and not allow_duplicate:
        raise RegistrationError(
            f"{path}: same content as shard {known[sha]!r} (sha256 {sha[:12]}); it would be trained on twice "
            "(--allow-duplicate to register it anyway)"
        )
    replaces = None
    if target.exists() and target.resolve() != path.resolve():
        if not replace:
            raise RegistrationError(
                f"{path}: shard {key!r} already exists with other content (sha256 {cached_sha256(target)[:12]}); "
                "use --replace to register a new version (the old file is kept in inbox/.replaced/)"
            )
        replaces = lake.replaced_dir / f"{target.name}.{cached_sha256(target)[:12]}"
    return Registration(key, path, target, sha, replaces)


def plan_registration(
    lake: DataLake, paths: list[Path], replace: bool = False, allow_duplicate: bool = False
) -> list[Registration]:
    """Check every file first, so a refused file registers nothing."""
    known, plans = inbox_hashes(lake), []
    for path in paths:
        plan = _plan_one(lake, Path(path), known, replace, allow_duplicate)
        plans.append(plan)
        known[plan.sha256] = plan.key
    return plans


def apply_registration(plans: list[Registration]) -> None:
    """Archive replaced files, then copy the new ones in atomically."""
    for plan in plans:
        if plan.replaces is not None:
            plan.replaces.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(plan.target, plan.replaces)
        if not plan.in_inbox:
            with atomic_output(plan.target) as tmp:
                shutil.copy2(plan.source, tmp)
