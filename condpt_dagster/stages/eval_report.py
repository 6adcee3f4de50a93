"""Stage ``eval_report``: evaluate a checkpoint on its held-out documents and write ``eval/<run>/``.

The measurements are in :mod:`condpt_dagster.evaluation`; this module gathers the inputs from the lake
(the held-out documents of every shard the checkpoint trained on, with their label rows), runs them and
writes the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from condpt_dagster.core.lake import DataLake, EvalFiles
from condpt_dagster.core.settings import EvalOptions
from condpt_dagster.labelers import Labeler

if TYPE_CHECKING:  # torch, transformers and matplotlib load when a report is made, not with the code location
    from condpt_dagster.evaluation.run import HeldOut

# Bump when the measurements change for the same checkpoint and options.
REVISION = "1"
LABEL_COLUMNS = ["topics", "rating", "format", "sentiment", "tags", "synopsis"]


def load_heldout(lake: DataLake, shards: list[str]) -> HeldOut:
    """Held-out documents of the given shards with their label rows."""
    from condpt_dagster.evaluation.run import HeldOut

    frames = []
    for shard in shards:
        path = lake.blocks(shard).heldout
        if path.is_file() and lake.labels(shard).is_file():
            labels = pl.read_parquet(lake.labels(shard), columns=["id", *LABEL_COLUMNS])
            frames.append(pl.read_parquet(path).join(labels, on="id", how="inner"))
    if not frames or sum(len(f) for f in frames) == 0:
        raise FileNotFoundError(f"{lake.blocks_dir}: no held-out documents with labels for shards {shards}")
    frame = pl.concat(frames)
    return HeldOut(
        ids=frame["id"].to_list(),
        header_ids=frame["header_ids"].to_list(),
        body_ids=frame["body_ids"].to_list(),
        labels=frame.select(LABEL_COLUMNS).to_dicts(),
        texts=frame["text"].to_list(),
    )


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
    lake: DataLake, run: str, labeler: Labeler, options: EvalOptions, progress: Callable[[str], None] = print
) -> EvalOutcome:
    """Evaluate ``checkpoints/<run>`` and write ``eval/<run>/``; the judge is the training labeler."""
    from condpt_dagster.evaluation.report import write_report
    from condpt_dagster.evaluation.run import evaluate
    from condpt_dagster.training.generate import ConditionalGenerator

    checkpoint = lake.checkpoint(run)
    manifest = json.loads(checkpoint.manifest.read_text(encoding="utf-8"))
    heldout = load_heldout(lake, manifest["shards"])
    generator = ConditionalGenerator(checkpoint.folder)
    encoder = getattr(labeler, "encoder", None)
    if encoder is None:
        from condpt_dagster.labelers.encoder import SentenceEncoder

        encoder = SentenceEncoder()
    metrics = evaluate(generator, heldout, labeler.label, encoder.encode, options, progress=progress)
    metrics["checkpoint"] = {"run": run, "labeler_version": labeler.version(), "steps": manifest["steps"]}
    files = write_report(metrics, lake.evaluation(run), f"condpt evaluation: {run}")
    return EvalOutcome(metrics, files, len(heldout.ids))
