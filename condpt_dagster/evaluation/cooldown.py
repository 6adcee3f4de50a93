"""The experiment's third arm: the conditional model with MeCo's cooldown (Gao et al. 2025: the last
``cooldown_fraction`` of its steps without header tokens, so it also works on unlabelled text).

Judged like the others: steering with headers at the final snapshot (the same requests, the same independent
judges, against the unconditional arm's baseline texts of that snapshot), held-out loss with and without the
header at every snapshot shared with the unconditional arm, and the same data efficiency as the conditional
arm (tokens to reach the unconditional arm's final header-free loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation.efficiency import data_efficiency
from condpt_dagster.evaluation.judges import Judges
from condpt_dagster.evaluation.requests import Requests
from condpt_dagster.evaluation.run import header_losses
from condpt_dagster.evaluation.steering import Point, chosen_docs, steer_point
from condpt_dagster.training.generate import ConditionalGenerator

KEPT = ("lift", "ci_low", "ci_high", "adherence", "verdict")
CONDITIONS = ("true_header", "no_header")


def evaluate_cooldown(
    lake, heldout, run: str, uncond_run: str, requests: Requests, judges: Judges, options: ExperimentSettings,
    unconditional: dict[int, dict[str, list[float]]], baseline: list[str], tokens_per_step: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """(the arm's summary, its generations). ``unconditional``: the unconditional arm's per-document losses by
    snapshot step (the conditional arm's evaluation measured them); ``baseline``: its final texts."""
    uncond_snapshots = dict(lake.checkpoint(uncond_run).snapshots())
    points = [(s, p) for s, p in lake.checkpoint(run).snapshots() if s in unconditional]
    if not points:
        raise FileNotFoundError(f"{lake.checkpoint(run).snapshots_dir}: no snapshot shared with {uncond_run}")
    chosen = chosen_docs(heldout, options)
    per_doc, generator = [], None
    for step, folder in points:
        generator = ConditionalGenerator(folder)
        losses = header_losses(generator, heldout, chosen, options.max_body_tokens, options.seed, CONDITIONS)
        per_doc.append({"conditional_true_header": losses["true_header"],
                        "conditional_no_header": losses["no_header"],
                        "unconditional": unconditional[step]["unconditional"]})  # fmt: skip
    final_step = points[-1][0]
    uncond = ConditionalGenerator(uncond_snapshots[final_step])
    point: Point = steer_point(generator, uncond, requests, judges, options, None, final_step, "cooldown", baseline)
    tokens = [int(step * tokens_per_step) for step, _ in points]
    summary = {
        "run": run,
        "cooldown_fraction": options.cooldown_fraction,
        "fields": {name: {k: result[k] for k in KEPT} for name, result in point.fields.items()},
        "loss": {k: round(float(np.mean(per_doc[-1][f"conditional_{k}"])), 5) for k in ("true_header", "no_header")},
        "data_efficiency": data_efficiency(tokens, per_doc, options.bootstrap_reps, options.seed),
    }
    return summary, point.generations


def cooldown_line(cooldown: dict[str, Any]) -> str:
    """One line: the cooldown arm's steering per field and its header-free loss."""
    fields = "; ".join(
        f"{name} lift {r['lift']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] {r['verdict']}"
        for name, r in cooldown["fields"].items()
    )
    fraction = cooldown.get("cooldown_fraction")
    share = f"last {fraction:.0%} of steps without headers" if fraction else "header-free cooldown"
    return f"cooldown arm ({share}): {fields}; held-out loss without header {cooldown['loss']['no_header']:.4f}"
