"""Stage ``labeler_adapter``: fine-tune the labeler's encoder on the user's tagged documents and compare it
with the zero-shot composite labeler on the same validation documents.

Training itself is :func:`condpt_dagster.labelers.finetune.finetune`; this module adds the side-by-side
comparison the asset shows (per tag: fine-tuned vs zero-shot precision, recall and F1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from condpt_dagster.core.lake import AdapterFiles
from condpt_dagster.core.settings import LabelerAdapterSettings
from condpt_dagster.labelers.base import Labeler

if TYPE_CHECKING:  # torch and scikit-learn load when an adapter is trained, not with the code location
    from condpt_dagster.labelers.finetune import FinetuneReport

# Bump when training or the comparison changes for the same tagged set and options.
REVISION = "1"


@dataclass
class AdapterOutcome:
    report: FinetuneReport
    zero_shot: dict[str, Any]  # tag_metrics of the zero-shot labeler on the validation documents

    def side_by_side(self) -> list[dict[str, Any]]:
        """One row per tag: support, fine-tuned and zero-shot precision/recall/F1."""
        base = {row["tag"]: row for row in self.zero_shot["per_tag"]}
        return [
            {
                "tag": row["tag"],
                "support": row["support"],
                **{f"finetuned_{m}": row[m] for m in ("precision", "recall", "f1")},
                **{f"zero_shot_{m}": base[row["tag"]][m] for m in ("precision", "recall", "f1")},
            }
            for row in self.report.metrics["per_tag"]
        ]


def zero_shot_metrics(labeler: Labeler, validation: Path, tags: list[str]) -> dict[str, Any]:
    """Per-tag metrics of a labeler's rows (mapped to the tagged-set vocabulary) on the validation set."""
    from condpt_dagster.labelers.finetune import composite_tag_sets, tag_metrics

    frame = pl.read_parquet(validation)
    predicted = composite_tag_sets(labeler.label(frame["text"].to_list()))
    y_true = np.array([[t in doc for t in tags] for doc in frame["tags"].to_list()], dtype=int)
    y_pred = np.array([[t in doc for t in tags] for doc in predicted], dtype=int)
    return tag_metrics(tags, y_true, y_pred)


def train_adapter(
    tagged_path: Path, out: AdapterFiles, options: LabelerAdapterSettings, baseline: Labeler | None = None
) -> AdapterOutcome:
    """Train and save the adapter into ``out``, then measure ``baseline`` (default: the zero-shot composite
    labeler, what the adapter is meant to improve on) on the same validation documents."""
    from condpt_dagster.labelers.composite import CompositeLabeler
    from condpt_dagster.labelers.finetune import finetune

    report = finetune(tagged_path, out.folder, options)
    baseline = baseline or CompositeLabeler()
    return AdapterOutcome(report, zero_shot_metrics(baseline, out.validation, report.tags))
