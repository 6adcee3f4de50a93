"""Label history: every labeler version's labels of a shard, kept beside the current file.

``labels/<shard>.parquet`` is what the pipeline reads; ``labels/_history/<shard>/<labeler_version>.parquet``
is a copy of each published version (labels are a small fraction of a corpus), with a JSON sidecar saying
when and by which run it was written. Retention keeps the newest ``keep`` versions and every version a
checkpoint manifest pins in its ``lineage``, so an auditor can always read the labels a model learned from.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.io import atomic_output, atomic_write_text, clear_orphans
from condpt_dagster.core.lake import DataLake


def archive_labels(lake: DataLake, shard: str, version: str, run_id: str | None, keep: int) -> list[str]:
    """Record the shard's current labels as ``version``; prune unpinned old versions. Returns the pruned ones."""
    target = lake.label_history(shard, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_orphans([target, target.with_suffix(".json")])  # left by a killed archive of this version
    with atomic_output(target) as tmp:
        # A copy, not a hard link: a tool that rewrote labels/<shard>.parquet in place would rewrite history too.
        shutil.copyfile(lake.labels(shard), tmp)
    written = {"labeler_version": version, "written_at": datetime.now(UTC).isoformat(), "run_id": run_id}
    atomic_write_text(target.with_suffix(".json"), json.dumps(written, indent=1))
    return prune_history(lake, shard, keep)


def history(lake: DataLake, shard: str) -> list[dict[str, str | None]]:
    """Kept versions of a shard's labels, oldest first, with when and by which run they were written."""
    entries = []
    for sidecar in lake.label_history_dir(shard).glob("*.json"):
        if sidecar.with_suffix(".parquet").is_file():
            entries.append(json.loads(sidecar.read_text(encoding="utf-8")))
    return sorted(entries, key=lambda e: e["written_at"] or "")


def pinned_versions(lake: DataLake) -> dict[str, set[str]]:
    """shard -> labeler versions that some checkpoint manifest says it trained on."""
    pinned: dict[str, set[str]] = {}
    for path in lake.checkpoint_manifests():
        for shard, versions in CheckpointManifest.load(path).pinned_labels_versions().items():
            pinned.setdefault(shard, set()).update(versions)
    return pinned


def prune_history(lake: DataLake, shard: str, keep: int) -> list[str]:
    """Drop all but the newest ``keep`` versions, never one a checkpoint pins."""
    pinned = pinned_versions(lake).get(shard, set())
    versions = [e["labeler_version"] for e in history(lake, shard)]
    dropped = [v for v in versions[: max(0, len(versions) - keep)] if v not in pinned]
    for version in dropped:
        path = lake.label_history(shard, version)
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
    return dropped
