"""The steering experiment's measurements: does conditioning make the model follow its labels, judged
independently?

From the same token blocks and the same budget the ``steering_experiment`` stage trains two runs
(checkpoints/<name>-conditional and checkpoints/<name>-unconditional: the same blocks with every header token
removed, so both learn from the same body tokens); this module measures them at each snapshot (the
lift-vs-tokens curve) and at the end:

1. losses on held-out documents: the conditional model with the true header, no header and a shuffled
   header; the unconditional model (no header). ``gain_vs_no_header``, ``gain_vs_shuffled`` and
   ``loss_cost_vs_unconditional`` (conditional without header minus unconditional: what conditioning costs
   on unlabeled text) are paired per-document differences with bootstrap 95% intervals;
2. for every steerable field and requested value, ``samples_per_value`` generations from a header holding
   that one value, and ``baseline_samples`` from the unconditional model; independent judges
   (evaluation/judges.py) decide each sample's value; adherence = share judged as asked, baseline_rate =
   share of unconditional samples judged so, lift = adherence / baseline_rate, with bootstrap intervals;
   a requested x judged matrix per field; the training labeler's verdict beside the judge's (final only).

Fields that the blocks do not carry, or whose values were never seen in training, are reported as not
steerable with the reason. Everything is written to experiments/<name>/ by evaluation/experiment_report.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation import diagnostics
from condpt_dagster.evaluation.efficiency import data_efficiency
from condpt_dagster.evaluation.generations import baseline_rows, request_rows
from condpt_dagster.evaluation.judges import Judge, Judges, LabelerJudge
from condpt_dagster.evaluation.metrics import conditioning_gain, confusion_matrix, lift_with_ci
from condpt_dagster.evaluation.requests import STEERABLE_FIELDS, Requests, request_labels
from condpt_dagster.evaluation.run import header_losses
from condpt_dagster.evaluation.summary import ExperimentSummary
from condpt_dagster.evaluation.verdict import NO_EVIDENCE, verdict
from condpt_dagster.training.generate import ConditionalGenerator

Progress = Callable[[str], None]


def losses(
    cond: ConditionalGenerator, uncond: ConditionalGenerator, heldout, options: ExperimentSettings
) -> dict[str, Any]:
    """Per-document body losses and the paired differences the summary reports."""
    chosen = chosen_docs(heldout, options)
    conditional = header_losses(cond, heldout, chosen, options.max_body_tokens, options.seed)
    unconditional = header_losses(uncond, heldout, chosen, options.max_body_tokens, options.seed, ["no_header"])
    cond_true, cond_none, cond_shuffled = (conditional[c] for c in ("true_header", "no_header", "shuffled"))
    uncond_none = unconditional["no_header"]
    reps = options.bootstrap_reps
    cost = conditioning_gain(uncond_none, cond_none, reps)  # other - "true": conditional minus unconditional
    return {
        "loss": {
            "conditional_true_header": round(float(np.mean(cond_true)), 5),
            "conditional_no_header": round(float(np.mean(cond_none)), 5),
            "conditional_shuffled_header": round(float(np.mean(cond_shuffled)), 5),
            "unconditional": round(float(np.mean(uncond_none)), 5),
        },
        "gain_vs_no_header": conditioning_gain(cond_true, cond_none, reps),
        "gain_vs_shuffled": conditioning_gain(cond_true, cond_shuffled, reps),
        "loss_cost_vs_unconditional": {
            "cost": cost["gain"],
            "ci_low": cost["ci_low"],
            "ci_high": cost["ci_high"],
            "docs": cost["docs"],
        },
        # per held-out document, for the data-efficiency curve across snapshots
        "per_doc": {
            "conditional_true_header": cond_true,
            "conditional_no_header": cond_none,
            "unconditional": uncond_none,
        },
    }


@dataclass
class Point:
    """One snapshot's steering results, the texts by condition, and every generation as a row."""

    fields: dict[str, Any]
    samples: dict[str, list[str]]
    generations: list[dict[str, Any]]


def chosen_docs(heldout, options: ExperimentSettings) -> np.ndarray:
    """The held-out documents every arm's losses are measured on: a seeded draw across shards."""
    n = min(options.heldout_docs, len(heldout.ids))
    return np.random.default_rng(options.seed).permutation(len(heldout.ids))[:n]


def steer_point(
    cond: ConditionalGenerator,
    uncond: ConditionalGenerator,
    requests: Requests,
    judges: Judges,
    options: ExperimentSettings,
    labeler: Callable[[list[str]], list[Any]] | None = None,
    step: int = 0,
    arm: str = "conditional",
    baseline: list[str] | None = None,
) -> Point:
    """Generate and judge every requested value; with ``labeler`` also the training labeler's verdict. A
    ``baseline`` given (the unconditional texts of this step, already kept) is reused, not generated again."""
    sampling = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature, "top_p": options.top_p}
    reused = baseline is not None
    if baseline is None:
        baseline = uncond.sample(None, options.baseline_samples, seed=options.seed, **sampling)
    point = Point({}, {"(unconditional model)": baseline}, [])
    for name, values in requests.values.items():
        generated = {
            v: cond.sample(request_labels(name, v), options.samples_per_value, seed=options.seed + 1, **sampling)
            for v in values
        }
        point.samples.update({f"{name}={v}": texts for v, texts in generated.items()})
        result, judged = judged_lift(judges, name, generated, baseline, options)
        pairs = [(v, j) for v in values for j in judged[v]]
        result["confusion"] = confusion_matrix([v for v, _ in pairs], [j for _, j in pairs])
        result["verdict"] = verdict(result)
        by_labeler: dict[str, list[str]] = {}
        if labeler is not None:  # the same lift with the training labeler as judge: beside, never instead
            labeler_result, by_labeler = judged_lift(LabelerJudge(labeler), name, generated, baseline, options)
            result["labeler"] = {k: labeler_result[k] for k in ("lift", "ci_low", "ci_high", "adherence")}
        point.fields[name] = result
        for v, texts in generated.items():
            header = cond.header(request_labels(name, v))
            point.generations += request_rows(step, name, v, header, texts, judged[v], by_labeler.get(v), arm=arm)
        if labeler is not None and options.guidance != 1:  # final snapshot: the same requests, guided
            result["guided"], rows = _guided(cond, name, values, baseline, judges, options, step)
            result["guided"]["lift_change"] = round(result["guided"]["lift"] - result["lift"], 4)
            point.generations += rows
        if not reused:
            base_verdicts = None if name == "tags" else judges.verdicts(name, baseline)
            point.generations += baseline_rows(step, name, baseline, base_verdicts)
    return point


def _guided(cond, name, values, baseline, judges, options, step) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The field's lift when every requested value is generated with classifier-free guidance."""
    sampling = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature, "top_p": options.top_p}
    guidance, n, seed = options.guidance, options.samples_per_value, options.seed + 1
    generated = {v: cond.sample(request_labels(name, v), n, seed, guidance=guidance, **sampling) for v in values}
    result, judged = judged_lift(judges, name, generated, baseline, options)
    rows = []
    for v, texts in generated.items():
        header = cond.header(request_labels(name, v))
        rows += request_rows(step, name, v, header, texts, judged[v], None, guidance)
    keep = ("lift", "ci_low", "ci_high", "adherence", "adherence_ci")
    return {"guidance": guidance, **{k: result[k] for k in keep}}, rows


def judged_lift(
    judge: Judge, name: str, generated: dict[str, list[str]], baseline: list[str], options: ExperimentSettings
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Lift of each requested value and of the field as ``judge`` sees it, and its verdict of each sample."""
    judged = {v: judge.verdicts(name, texts, v) for v, texts in generated.items()}
    hits = {v: [j == v for j in judged[v]] for v in generated}
    base_hits = judge.hits(name, baseline, list(generated))
    return lift_with_ci(hits, base_hits, options.bootstrap_reps, options.seed), judged


@dataclass
class ExperimentResult:
    summary: ExperimentSummary
    samples: dict[str, list[str]]
    generations: list[dict[str, Any]] = field(default_factory=list)  # generations.parquet rows


def evaluate_snapshots(lake, heldout, runs, requests, judges, options, labeler, progress, tokens_per_step):
    """(curve points, final point, final samples, every generation) over the snapshots both arms share; the
    labeler judges the final point only."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Loading weights" bar per snapshot would drown the progress log
    cond_files, uncond_files = (lake.checkpoint(run) for run in runs)
    uncond_steps = dict(uncond_files.snapshots())
    points = [(s, p) for s, p in cond_files.snapshots() if s in uncond_steps]
    curve, final, samples, generations, per_doc = [], {}, {}, [], []
    for i, (step, folder) in enumerate(points):
        last = i == len(points) - 1
        progress(f"evaluating step {step} ({'final' if last else 'curve'})")
        cond, uncond = ConditionalGenerator(folder), ConditionalGenerator(uncond_steps[step])
        point = steer_point(cond, uncond, requests, judges, options, labeler if last else None, step)
        fields, generations = point.fields, generations + point.generations
        point_losses = losses(cond, uncond, heldout, options)
        per_doc.append(point_losses.pop("per_doc"))
        curve.append(
            {
                "step": step,
                "tokens": int(step * tokens_per_step),
                "fields": {f: {k: r[k] for k in ("lift", "ci_low", "ci_high", "adherence")} for f, r in fields.items()},
                "gain_vs_shuffled": point_losses["gain_vs_shuffled"],
            }
        )
        if last:
            for key, given_others in (("flip_cost", False), ("flip_cost_given_others", True)):
                for name, cost in diagnostics.flip_costs(cond, heldout, requests, options, given_others).items():
                    fields[name][key] = cost
            final, samples = {**point_losses, "fields": fields}, point.samples
    if not final:
        raise FileNotFoundError(f"{cond_files.snapshots_dir}: no snapshot shared by both arms to evaluate")
    tokens = [point["tokens"] for point in curve]
    final["data_efficiency"] = data_efficiency(tokens, per_doc, options.bootstrap_reps, options.seed)
    final["per_doc"] = dict(zip([p["step"] for p in curve], per_doc, strict=True))  # for the cooldown arm
    return curve, final, samples, generations


def verdict_lines(summary: ExperimentSummary) -> list[str]:
    """One line per field: lift with its interval, the judge, and the verdict in words."""
    lines = []
    for name in STEERABLE_FIELDS:
        result = summary.fields.get(name)
        if result is None:
            continue
        if not result.get("steerable", True):
            lines.append(f"{name:<9} not steerable: {result['reason']}")
            continue
        judge = summary.judge.get("sentiment" if name == "sentiment" else name, {}).get("judge", "?")
        lines.append(
            f"{name:<9} lift {result['lift']:.2f} [95% CI {result['ci_low']:.2f}, {result['ci_high']:.2f}] "
            f"adherence {result['adherence']:.2f} vs baseline {result['baseline_rate']:.2f} "
            f"(judge: {judge}): {result['verdict']}"
            + (" (the interval includes 1)" if result["verdict"] == NO_EVIDENCE else "")
            + _reference_note(result.get("reference"))
            + _flip_note(result)
            + _guidance_note(result.get("guided"))
        )
    return lines


def _guidance_note(guided: dict[str, Any] | None) -> str:
    if not guided:
        return ""
    change = guided["lift_change"]
    effect = f"{change:+.2f} over unguided" if change > 0 else f"does not help ({change:+.2f})"
    return (
        f"; with guidance {guided['guidance']:g}: lift {guided['lift']:.2f} "
        f"[{guided['ci_low']:.2f}, {guided['ci_high']:.2f}], {effect}"
    )


def _flip_note(result: dict[str, Any]) -> str:
    """The flip cost alone and given the other fields, each with its interval."""
    parts = []
    for key, label in (("flip_cost", "alone"), ("flip_cost_given_others", "given the other fields")):
        flip = result.get(key) or {}
        if "cost" in flip:
            parts.append(f"{flip['cost']:+.4f} [{flip['ci_low']:+.4f}, {flip['ci_high']:+.4f}] {label}")
    return f"; flip cost (nats/token) {', '.join(parts)}" if parts else ""


def _reference_note(reference: dict[str, Any] | None) -> str:
    """The corpus's own lift under the same judge, and a warning when the judge cannot tell the values apart."""
    if not reference or "lift" not in reference:
        return ""
    note = f"; corpus reference {reference['lift']:.2f} [{reference['ci_low']:.2f}, {reference['ci_high']:.2f}]"
    return note + (" (the judge barely separates the corpus's own values)" if reference["ci_low"] <= 1.5 else "")
