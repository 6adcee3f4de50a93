"""Stage ``eval_report``: evaluate a checkpoint on its held-out documents and write ``eval/<run>/``.

The measurements are in :mod:`condpt_dagster.evaluation`; this module gathers the inputs from the lake
(the held-out documents of every shard the checkpoint trained on, with their label rows), runs them and
writes the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from condpt_dagster.conditioning.heldout import load_heldout
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.lake import DataLake, EvalFiles
from condpt_dagster.core.settings import EvalSettings
from condpt_dagster.labelers import Labeler

# Bump when the measurements change for the same checkpoint and options.
REVISION = "1"


def conditioning_helps(headline: dict[str, Any]) -> bool:
    """The warning check: the true header lowers the loss and requested values are more frequent."""
    gain, lift = headline["gain_vs_no_header"], headline["mean_lift"]
    return gain is not None and gain > 0 and lift is not None and lift > 1


@dataclass
class EvalOutcome:
    metrics: dict[str, Any]
    files: EvalFiles
    heldout_documents: int


def evaluate_checkpoint(
    lake: DataLake, run: str, labeler: Labeler, options: EvalSettings, progress: Callable[[str], None] = print
) -> EvalOutcome:
    """Evaluate ``checkpoints/<run>`` and write ``eval/<run>/``; the judge is the training labeler."""
    # torch, transformers and matplotlib load when a report is made, not with the code location
    from condpt_dagster.evaluation.model_card import write_model_card
    from condpt_dagster.evaluation.report import write_report
    from condpt_dagster.evaluation.run import evaluate
    from condpt_dagster.training.generate import ConditionalGenerator

    checkpoint = lake.checkpoint(run)
    manifest = CheckpointManifest.load(checkpoint.manifest)
    heldout = load_heldout(lake, manifest.shards)
    generator = ConditionalGenerator(checkpoint.folder)
    encoder = getattr(labeler, "encoder", None)
    if encoder is None:
        from condpt_dagster.labelers.encoder import SentenceEncoder

        encoder = SentenceEncoder()
    metrics = evaluate(generator, heldout, labeler.label, encoder.encode, options, progress=progress)
    metrics["checkpoint"] = {"run": run, "labeler_version": labeler.version(), "steps": manifest.steps}
    files = write_report(metrics, lake.evaluation(run), f"condpt evaluation: {run}")
    write_model_card(checkpoint, eval_metrics=metrics)  # the exported model's card, with what this found
    return EvalOutcome(metrics, files, len(heldout.ids))
