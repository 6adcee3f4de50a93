"""The run spec: everything a training process needs, written as JSON by the checkpoint stage.

Every rank reads it; paths are not stored, only the lake root, so every rank builds them with
:class:`~condpt_dagster.core.lake.DataLake` like every other stage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.io import atomic_write_text
from condpt_dagster.core.lake import CheckpointFiles, DataLake
from condpt_dagster.core.settings import TrainingSettings

# Bump when the training loop changes what the same config and data produce.
REVISION = "1"


@dataclass(frozen=True)
class RunSpec:
    config: dict[str, Any]  # the [training] settings
    lake_root: str
    shards: list[str]
    partition_data_versions: dict[str, str]  # token_blocks data version per shard
    tokenizer_sha256: str
    code_version: str
    conditioning: dict[str, Any]  # a HeaderFormat as JSON, so generation builds headers the same way
    # shard -> labels_version, conditioned_data_version, blocks_data_version: what the run learned from
    lineage: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def lake(self) -> DataLake:
        return DataLake.at(self.lake_root)

    @property
    def train_config(self) -> TrainingSettings:
        return TrainingSettings.model_validate(self.config)

    @property
    def header_format(self) -> HeaderFormat:
        return HeaderFormat.from_json(self.conditioning, f"run spec of {self.config['run']!r}")

    @property
    def files(self) -> CheckpointFiles:
        return self.lake.checkpoint(self.config["run"])

    def identity(self) -> str:
        """Same identity = same training run: config, data and tokenizer. A checkpoint resumes only if equal."""
        payload = json.dumps(
            [self.train_config.version(REVISION), self.partition_data_versions, self.tokenizer_sha256], sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
