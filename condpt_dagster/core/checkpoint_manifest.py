"""``checkpoints/<run>/manifest.json``: what a training run learned from and how it went, typed.

Written last by rank 0 of a finished run (``training/export.py``), so its presence marks the run complete;
read by the eval report, the steering experiment, the label audit (which data versions each run trained on)
and label retention (the labels versions a run pins). Fields after ``hf_dir`` are the run's figures. Only what
the audit needs is required (run, tokenizer, data versions): manifests written before a field existed, or by
another tool, still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condpt_dagster.core.records import load_record, save_record


@dataclass(frozen=True, kw_only=True)
class CheckpointManifest:
    run: str
    config: dict[str, Any] = field(default_factory=dict)  # the [training] settings
    config_version: str = ""
    code_version: str = ""
    tokenizer_sha256: str
    shards: list[str] = field(default_factory=list)
    partition_data_versions: dict[str, str]  # token_blocks data version per shard
    # shard -> labels_version, conditioned_data_version, blocks_data_version
    lineage: dict[str, dict[str, str | None]] = field(default_factory=dict)
    hf_dir: str = ""
    steps: int = 0
    resumed_from: int | None = None
    final_loss: float | None = None
    tokens_trained: int = 0
    steps_this_launch: int = 0
    tokens_per_second: float | None = None  # None when this launch trained no step (nothing measured)
    model_tflops_per_second: float | None = None
    mfu: float | None = None
    device: str = "cpu"
    parameters: int = 0
    trainable_parameters: int = 0
    world_size: int = 1
    replica_weights: dict[str, Any] = field(default_factory=dict)  # every rank's weights digest, checked equal

    @classmethod
    def load(cls, path: Path) -> CheckpointManifest:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no manifest; the run has not finished (materialize checkpoint)")
        return load_record(path, cls, "a checkpoint manifest")

    def save(self, path: Path) -> None:
        save_record(path, self)

    def pinned_labels_versions(self) -> dict[str, set[str]]:
        """shard -> the labeler versions this run's blocks were built from."""
        pinned: dict[str, set[str]] = {}
        for shard, lineage in self.lineage.items():
            for version in (lineage.get("labels_version") or "").split(","):
                if version:
                    pinned.setdefault(shard, set()).add(version)
        return pinned
