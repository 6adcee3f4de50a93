"""``experiments/<name>/summary.json``: a steering experiment's result, typed (schema: docs/design.md).

Built by the ``steering_experiment`` stage, written last by ``evaluation/experiment_report.py`` (its presence
marks a complete experiment) and read back by ``condpt experiment show``. Top-level keys are fields here, so
their spelling lives in one place; each field's result (``fields.<field>``) stays a mapping, since its keys
depend on whether the field was steerable. Fields added later get defaults, so older summaries still load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from condpt_dagster.core.io import atomic_write_text
from condpt_dagster.core.records import load_record
from condpt_dagster.evaluation.metrics import to_json

Interval = dict[str, Any]  # {gain or cost, ci_low, ci_high, docs}


@dataclass
class ExperimentSummary:
    name: str
    fields: dict[str, dict[str, Any]]  # per field: lift, interval, verdict, ... or {steerable: false, reason}
    gain_vs_no_header: Interval
    gain_vs_shuffled: Interval
    loss_cost_vs_unconditional: Interval
    loss: dict[str, Any]  # mean held-out loss per model and header
    judge: dict[str, dict[str, Any]]  # per field: judge name, agreement with labels, validation docs
    tokens_trained: int
    steps: int
    device: str
    model: dict[str, Any]  # preset, parameters
    runs: dict[str, str] = field(default_factory=dict)  # arm -> checkpoint run name
    tokens_per_second: dict[str, float | None] = field(default_factory=dict)
    arms_trained_earlier: list[str] = field(default_factory=list)  # reused arms: only evaluated this time
    samples_per_value: int = 0
    baseline_samples: int = 0
    requests: dict[str, list[str]] = field(default_factory=dict)
    conditioning: dict[str, Any] = field(default_factory=dict)  # template and fields (no seen values)
    curve: list[dict[str, Any]] = field(default_factory=list)  # step, tokens, fields.<field>.lift, ...
    minutes: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # the [experiment] settings
    # tokens the conditional arm needed to reach the unconditional arm's final held-out loss (efficiency.py)
    data_efficiency: dict[str, Any] = field(default_factory=dict)
    # the third arm with MeCo's cooldown (evaluation/cooldown.py), when [experiment] cooldown_fraction > 0
    cooldown: dict[str, Any] = field(default_factory=dict)

    def steerable(self) -> dict[str, dict[str, Any]]:
        return {name: result for name, result in self.fields.items() if result.get("steerable")}

    def to_json(self) -> str:
        return to_json(asdict(self))  # NaN and infinity become null: strict JSON for every reader

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> ExperimentSummary:
        return load_record(path, cls, "a steering experiment summary")
