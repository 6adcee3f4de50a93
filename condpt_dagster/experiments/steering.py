"""The steering experiment: does conditioning make the model follow its labels, judged independently?

From the same token blocks and the same budget it trains two runs (checkpoints/<name>-conditional and
checkpoints/<name>-unconditional: the same blocks with every header token removed, so both learn from the
same body tokens), then at each snapshot (the lift-vs-tokens curve) and at the end:

1. losses on held-out documents: the conditional model with the true header, no header and a shuffled
   header; the unconditional model (no header). ``gain_vs_no_header``, ``gain_vs_shuffled`` and
   ``loss_cost_vs_unconditional`` (conditional without header minus unconditional: what conditioning costs
   on unlabeled text) are paired per-document differences with bootstrap 95% intervals;
2. for every steerable field and requested value, ``samples_per_value`` generations from a header holding
   that one value, and ``baseline_samples`` from the unconditional model; independent judges
   (experiments/judges.py) decide each sample's value; adherence = share judged as asked, baseline_rate =
   share of unconditional samples judged so, lift = adherence / baseline_rate, with bootstrap intervals;
   a requested x judged matrix per field; the training labeler's verdict beside the judge's (final only).

Fields that the blocks do not carry, or whose values were never seen in training, are reported as not
steerable with the reason. Everything is written to experiments/<name>/ by experiments/report.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ExperimentOptions, TrainConfig
from condpt_dagster.evaluation.metrics import conditioning_gain, confusion_matrix, derangement, lift_with_ci
from condpt_dagster.evaluation.run import HeldOut, body_nll
from condpt_dagster.evaluation.verdict import NO_EVIDENCE, verdict
from condpt_dagster.experiments import diagnostics
from condpt_dagster.experiments.judges import BagOfWordsJudge, SentimentJudge, TagJudge
from condpt_dagster.stages.checkpoint import prepare_launch, seen_values, training_label_paths
from condpt_dagster.stages.eval_report import load_heldout
from condpt_dagster.training.generate import ConditionalGenerator

STEERABLE_FIELDS = ("rating", "format", "topics", "sentiment", "tags")
Progress = Callable[[str], None]


@dataclass
class Requests:
    """The values asked for per steerable field, and why the other fields are not steerable."""

    values: dict[str, list[str]]
    not_steerable: dict[str, str]


def plan_requests(seen: dict[str, dict[str, int]], fields: Sequence[str], options: ExperimentOptions) -> Requests:
    """Values with at least ``min_value_docs`` training documents: every rating, sentiment and tag, the most
    frequent ``values_per_field`` formats and topics."""
    values, missing = {}, {}
    for name in STEERABLE_FIELDS:
        counts = {v: n for v, n in seen.get(name, {}).items() if n >= options.min_value_docs}
        if name not in fields:
            missing[name] = f"the blocks carry no {name} labels (conditioning fields: {', '.join(fields)})"
        elif not counts:
            missing[name] = f"no {name} value has {options.min_value_docs}+ training documents"
        elif len(counts) == 1 and name != "tags":
            missing[name] = f"every training document has {name} {next(iter(counts))}: nothing to steer between"
        else:
            ranked = sorted(counts, key=lambda v: (-counts[v], v))  # every tag: diagnostics.visible_tags cuts them
            values[name] = ranked if name in ("rating", "sentiment", "tags") else ranked[: options.values_per_field]
    return Requests(values, missing)


@dataclass
class Judges:
    sentiment: SentimentJudge = field(default_factory=SentimentJudge)
    closed: dict[str, BagOfWordsJudge] = field(default_factory=dict)
    tags: TagJudge = field(default_factory=TagJudge)

    def verdicts(self, name: str, texts: Sequence[str], value: str | None = None) -> list[str]:
        """The judged value of each text (for tags: ``value`` or "(absent)")."""
        if name == "tags":
            return self.tags.judge(value or "", texts)
        return self.sentiment.judge(texts) if name == "sentiment" else self.closed[name].judge(texts)

    def hits(self, name: str, texts: Sequence[str], values: Sequence[str]) -> dict[str, list[bool]]:
        """For each value, whether each text is judged to be it (one pass over the texts except for tags)."""
        shared = None if name == "tags" else self.verdicts(name, texts)
        return {v: [j == v for j in (self.verdicts(name, texts, v) if shared is None else shared)] for v in values}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sentiment": {"judge": self.sentiment.name}, "tags": {"judge": self.tags.name}}
        for name, judge in self.closed.items():
            out[name] = {
                "judge": judge.name,
                "agreement_with_labels": judge.agreement,
                "validation_docs": judge.validation_docs,
                "classes": judge.classes,
            }
        return out


def training_documents(lake: DataLake, shards: Sequence[str], limit: int) -> pl.DataFrame:
    """(id, text, label columns) of up to ``limit`` documents packed into the shards' blocks."""
    frames = []
    for shard in shards:
        labels_path, packed = training_label_paths(lake, shard)
        if labels_path is None:
            continue
        labels = pl.read_parquet(labels_path, columns=["id", *STEERABLE_FIELDS]).filter(pl.col("id").is_in(packed))
        frames.append(labels.join(pl.read_parquet(lake.clean(shard), columns=["id", "text"]), on="id"))
    if not frames:
        raise FileNotFoundError(f"{lake.blocks_dir}: no labeled documents in the blocks of {list(shards)}")
    frame = pl.concat(frames)
    return frame.sample(n=min(limit, len(frame)), seed=0) if len(frame) > limit else frame


def fit_judges(
    lake: DataLake, shards: Sequence[str], heldout: HeldOut, requests: Requests, options: ExperimentOptions
) -> Judges:
    """Bag-of-words judges for the closed fields asked for, fitted on training documents and checked against
    the labels of the held-out ones."""
    docs = training_documents(lake, shards, options.judge_docs).to_dicts()
    held_rows = [{**labels, "text": text} for labels, text in zip(heldout.labels, heldout.texts, strict=True)]
    judges = Judges()
    for name in ("rating", "format", "topics"):
        if name not in requests.values:
            continue
        train = [(d["text"], v) for d in docs if (v := diagnostics.label_value(d, name))]
        validation = [(d["text"], v) for d in held_rows if (v := diagnostics.label_value(d, name))]
        judges.closed[name] = BagOfWordsJudge.fit(name, train, validation, seed=options.seed)
    return judges


def train_arm(
    lake: DataLake, shards: list[str], config: TrainConfig, conditioning: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """Train one arm in a subprocess (the checkpoint stage's launcher) and return its manifest."""
    launch = prepare_launch(lake, shards, config, conditioning)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")}
    progress(f"training {config.run}: {' '.join(launch.command[-4:])}")
    with subprocess.Popen(launch.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        tail: list[str] = []
        for line in proc.stdout or []:
            tail = [*tail[-30:], line.rstrip()]
            if line.startswith(("step ", "training ", "resumed")):
                progress(f"{config.run}: {line.rstrip()}")
    if proc.returncode != 0:
        raise RuntimeError(f"training {config.run} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return json.loads(launch.spec.files.manifest.read_text(encoding="utf-8"))


def losses(
    cond: ConditionalGenerator, uncond: ConditionalGenerator, heldout, options: ExperimentOptions
) -> dict[str, Any]:
    """Per-document body losses and the paired differences the summary reports."""
    n = min(options.heldout_docs, len(heldout.ids))
    chosen = np.random.default_rng(options.seed).permutation(len(heldout.ids))[:n]  # across shards, not the first
    bodies = [heldout.body_ids[i][: options.max_body_tokens] for i in chosen]
    true = [heldout.header_ids[i] for i in chosen]
    no_header = [[cond.tokenizer.body_id]] * n
    shuffled = [true[j] for j in derangement(n, options.seed)]

    def per_token(model, prefixes) -> list[float]:
        return [s / max(c, 1) for s, c in body_nll(model, prefixes, bodies, cond.tokenizer.pad_id)]

    cond_true, cond_none = per_token(cond.model, true), per_token(cond.model, no_header)
    cond_shuffled, uncond_none = per_token(cond.model, shuffled), per_token(uncond.model, no_header)
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
    }


def steer_point(
    cond: ConditionalGenerator,
    uncond: ConditionalGenerator,
    requests: Requests,
    judges: Judges,
    options: ExperimentOptions,
    labeler: Callable[[list[str]], list[Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Generate and judge every requested value; with ``labeler`` also the training labeler's verdict."""
    sampling = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature, "top_p": options.top_p}
    baseline = uncond.sample(None, options.baseline_samples, seed=options.seed, **sampling)
    samples = {"(unconditional model)": baseline}
    fields: dict[str, Any] = {}
    for name, values in requests.values.items():
        generated = {
            v: cond.sample(
                diagnostics.request_labels(name, v), options.samples_per_value, seed=options.seed + 1, **sampling
            )
            for v in values
        }
        samples.update({f"{name}={v}": texts for v, texts in generated.items()})
        judged = {v: judges.verdicts(name, texts, v) for v, texts in generated.items()}
        hits = {v: [j == v for j in judged[v]] for v in values}
        base_hits = judges.hits(name, baseline, values)
        result = lift_with_ci(hits, base_hits, options.bootstrap_reps, options.seed)
        pairs = [(v, j) for v in values for j in judged[v]]
        result["confusion"] = confusion_matrix([v for v, _ in pairs], [j for _, j in pairs])
        result["verdict"] = verdict(result)
        if labeler is not None:
            result["labeler"] = _labeler_verdict(name, generated, baseline, labeler, options)
        fields[name] = result
    return fields, samples


def _labeler_verdict(name, generated, baseline, labeler, options: ExperimentOptions) -> dict[str, Any]:
    """The same lift measured with the training labeler as judge (reported beside, never instead)."""

    def has(row, value: str) -> bool:
        if name == "tags":
            return value in row.tags
        if name == "topics":
            return bool(row.topics) and row.topics[0] == value
        return str(getattr(row, name)) == value

    base_rows = labeler(baseline)
    hits = {v: [has(r, v) for r in labeler(texts)] for v, texts in generated.items()}
    base_hits = {v: [has(r, v) for r in base_rows] for v in generated}
    result = lift_with_ci(hits, base_hits, options.bootstrap_reps, options.seed)
    return {k: result[k] for k in ("lift", "ci_low", "ci_high", "adherence")}


@dataclass
class ExperimentResult:
    summary: dict[str, Any]
    samples: dict[str, list[str]]


def run_experiment(
    lake: DataLake,
    shards: list[str],
    training: TrainConfig,
    conditioning: dict[str, Any],
    options: ExperimentOptions,
    labeler: Callable[[list[str]], list[Any]] | None = None,
    progress: Progress = print,
) -> ExperimentResult:
    """Train both arms, evaluate every snapshot and return the summary (written by experiments/report.py)."""
    started = time.perf_counter()
    requests = plan_requests(seen_values(lake, shards, conditioning.get("fields", [])), conditioning["fields"], options)
    heldout = load_heldout(lake, shards)
    judges = fit_judges(lake, shards, heldout, requests, options)  # before training: an unjudgeable corpus fails fast
    openings = diagnostics.heldout_openings(lake, heldout, options)
    requests, hidden = diagnostics.visible_tags(requests, openings, heldout.labels, judges, options.values_per_field)
    progress(f"requests: {requests.values}; not steerable: {sorted(requests.not_steerable)}; unseen tags: {hidden}")
    reference = diagnostics.corpus_reference(openings, heldout.labels, requests, judges, options)
    progress("corpus reference lift: " + ", ".join(f"{f} {r.get('lift')}" for f, r in reference.items()))
    block_size = _block_size(lake, shards)
    arms = {role: options.train_config(training, role, block_size) for role in ("conditional", "unconditional")}
    manifests, minutes = {}, {}
    for role, config in arms.items():
        t0 = time.perf_counter()
        manifests[role] = train_arm(lake, shards, config, conditioning, progress)
        minutes[f"train_{role}"] = round((time.perf_counter() - t0) / 60, 2)
    t0 = time.perf_counter()
    tokens_per_step = manifests["conditional"]["tokens_trained"] / max(1, manifests["conditional"]["steps"])
    curve, final, samples = evaluate_snapshots(
        lake, heldout, [arms[r].run for r in arms], requests, judges, options, labeler, progress, tokens_per_step
    )
    minutes["evaluate"] = round((time.perf_counter() - t0) / 60, 2)
    minutes["total"] = round((time.perf_counter() - started) / 60, 2)
    fields = {**final["fields"], **{f: {"steerable": False, "reason": r} for f, r in requests.not_steerable.items()}}
    for name, ref in reference.items():
        fields[name]["reference"] = ref
    for result in fields.values():
        result.setdefault("steerable", True)
    conditional = manifests["conditional"]
    summary = {
        "name": options.name,
        "fields": fields,
        **{k: final[k] for k in ("gain_vs_no_header", "gain_vs_shuffled", "loss_cost_vs_unconditional", "loss")},
        "judge": judges.describe(),
        "tokens_trained": conditional["tokens_trained"],
        "steps": conditional["steps"],
        "device": _device(conditional),
        "model": {"preset": arms["conditional"].preset, "parameters": conditional["parameters"]},
        "runs": {role: arms[role].run for role in arms},
        "tokens_per_second": {role: m["tokens_per_second"] for role, m in manifests.items()},
        # arms already trained to the end by an earlier run are reused: only the evaluation ran again
        "arms_trained_earlier": [role for role, m in manifests.items() if m.get("steps_this_launch") == 0],
        **{k: getattr(options, k) for k in ("samples_per_value", "baseline_samples")},
        "requests": requests.values,
        "conditioning": {k: v for k, v in conditioning.items() if k != "seen_values"},
        "curve": curve,
        "minutes": minutes,
        "options": options.model_dump(mode="json"),
    }
    return ExperimentResult(summary, samples)


def evaluate_snapshots(lake, heldout, runs, requests, judges, options, labeler, progress, tokens_per_step):
    """(curve points, final point, final samples) over the snapshots both arms share; the labeler judges the
    final point only."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Loading weights" bar per snapshot would drown the progress log
    cond_files, uncond_files = (lake.checkpoint(run) for run in runs)
    uncond_steps = dict(uncond_files.snapshots())
    points = [(s, p) for s, p in cond_files.snapshots() if s in uncond_steps]
    curve, final, samples = [], {}, {}
    for i, (step, folder) in enumerate(points):
        last = i == len(points) - 1
        progress(f"evaluating step {step} ({'final' if last else 'curve'})")
        cond, uncond = ConditionalGenerator(folder), ConditionalGenerator(uncond_steps[step])
        fields, point_samples = steer_point(cond, uncond, requests, judges, options, labeler if last else None)
        point_losses = losses(cond, uncond, heldout, options)
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
            final, samples = {**point_losses, "fields": fields}, point_samples
    if not final:
        raise FileNotFoundError(f"{cond_files.snapshots_dir}: no snapshot shared by both arms to evaluate")
    return curve, final, samples


def _block_size(lake: DataLake, shards: Sequence[str]) -> int:
    for shard in shards:
        meta = lake.blocks(shard).meta
        if meta.is_file():
            return int(json.loads(meta.read_text(encoding="utf-8"))["block_size"])
    raise FileNotFoundError(f"{lake.blocks_dir}: no token blocks for {list(shards)}; materialize token_blocks")


def _device(manifest: dict[str, Any]) -> str:
    device = manifest.get("device") or "cpu"
    return f"{device} ({os.cpu_count()} cores)" if device == "cpu" else device


def verdict_lines(summary: dict[str, Any]) -> list[str]:
    """One line per field: lift with its interval, the judge, and the verdict in words."""
    lines = []
    for name in STEERABLE_FIELDS:
        result = summary["fields"].get(name)
        if result is None:
            continue
        if not result.get("steerable", True):
            lines.append(f"{name:<9} not steerable: {result['reason']}")
            continue
        judge = summary["judge"].get("sentiment" if name == "sentiment" else name, {}).get("judge", "?")
        lines.append(
            f"{name:<9} lift {result['lift']:.2f} [95% CI {result['ci_low']:.2f}, {result['ci_high']:.2f}] "
            f"adherence {result['adherence']:.2f} vs baseline {result['baseline_rate']:.2f} "
            f"(judge: {judge}): {result['verdict']}"
            + (" (the interval includes 1)" if result["verdict"] == NO_EVIDENCE else "")
            + _reference_note(result.get("reference"))
            + _flip_note(result)
        )
    return lines


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
