"""Stage ``steering_experiment``: train a conditional and a matched unconditional model on the same blocks,
then measure whether the labels steer generation (the measurements: :mod:`condpt_dagster.evaluation.steering`).

Each arm is trained like the ``checkpoint`` asset trains (its run spec and launcher, in a subprocess);
``checkpoints/<name>-conditional`` and ``checkpoints/<name>-unconditional`` keep the arms, and an arm already
trained to the end is reused. The summary and samples are written by ``evaluation/experiment_report.py``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from condpt_dagster.conditioning.blocks import BlockMeta
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.conditioning.heldout import load_heldout
from condpt_dagster.conditioning.seen import seen_values
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ExperimentSettings, TrainingSettings
from condpt_dagster.evaluation.requests import plan_requests
from condpt_dagster.evaluation.summary import ExperimentSummary
from condpt_dagster.stages.checkpoint import prepare_launch

if TYPE_CHECKING:  # torch, transformers and scikit-learn load when the experiment runs, not with the code location
    from condpt_dagster.evaluation.steering import ExperimentResult

Progress = Callable[[str], None]

# Bump when the experiment measures differently for the same blocks and options.
REVISION = "1"


def train_arm(
    lake: DataLake, shards: list[str], config: TrainingSettings, conditioning: HeaderFormat, progress: Progress
) -> CheckpointManifest:
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
    return CheckpointManifest.load(launch.spec.files.manifest)


def run_experiment(
    lake: DataLake,
    shards: list[str],
    training: TrainingSettings,
    conditioning: HeaderFormat,
    options: ExperimentSettings,
    labeler: Callable[[list[str]], list[Any]] | None = None,
    progress: Progress = print,
) -> ExperimentResult:
    """Train both arms, evaluate every snapshot and return the summary (written by evaluation/experiment_report.py)."""
    from condpt_dagster.evaluation import diagnostics
    from condpt_dagster.evaluation.cooldown import evaluate_cooldown
    from condpt_dagster.evaluation.judges import fit_judges
    from condpt_dagster.evaluation.model_card import write_model_card
    from condpt_dagster.evaluation.steering import ExperimentResult, evaluate_snapshots

    started = time.perf_counter()
    requests = plan_requests(seen_values(lake, shards, conditioning.fields), conditioning.fields, options)
    heldout = load_heldout(lake, shards)
    judges = fit_judges(lake, shards, heldout, requests, options)  # before training: an unjudgeable corpus fails fast
    openings = diagnostics.heldout_openings(lake, heldout, options)
    requests, hidden = diagnostics.visible_tags(requests, openings, heldout.labels, judges, options.values_per_field)
    progress(f"requests: {requests.values}; not steerable: {sorted(requests.not_steerable)}; unseen tags: {hidden}")
    reference = diagnostics.corpus_reference(openings, heldout.labels, requests, judges, options)
    progress("corpus reference lift: " + ", ".join(f"{f} {r.get('lift')}" for f, r in reference.items()))
    block_size = _block_size(lake, shards)
    arms = {role: options.train_config(training, role, block_size) for role in options.roles()}
    manifests, minutes = {}, {}
    for role, config in arms.items():
        t0 = time.perf_counter()
        manifests[role] = train_arm(lake, shards, config, conditioning, progress)
        minutes[f"train_{role}"] = round((time.perf_counter() - t0) / 60, 2)
    t0 = time.perf_counter()
    tokens_per_step = manifests["conditional"].tokens_trained / max(1, manifests["conditional"].steps)
    runs = [arms["conditional"].run, arms["unconditional"].run]
    curve, final, samples, generations = evaluate_snapshots(
        lake, heldout, runs, requests, judges, options, labeler, progress, tokens_per_step
    )
    if "cooldown" in arms:
        progress(f"evaluating the cooldown arm {arms['cooldown'].run}")
        baseline = samples["(unconditional model)"]
        final["cooldown"], rows = evaluate_cooldown(
            lake, heldout, arms["cooldown"].run, runs[1], requests, judges, options, final["per_doc"], baseline,
            tokens_per_step,
        )  # fmt: skip
        generations += rows
    minutes["evaluate"] = round((time.perf_counter() - t0) / 60, 2)
    minutes["total"] = round((time.perf_counter() - started) / 60, 2)
    summary = _summarize(options, conditioning, arms, manifests, requests, judges, reference, final, curve, minutes)
    write_model_card(lake.checkpoint(arms["conditional"].run), experiment=summary)
    return ExperimentResult(summary, samples, generations)


def _summarize(options, conditioning, arms, manifests, requests, judges, reference, final, curve, minutes):
    """The experiment's summary from its parts: per-field results with the corpus reference, and the run."""
    fields = {**final["fields"], **{f: {"steerable": False, "reason": r} for f, r in requests.not_steerable.items()}}
    for name, ref in reference.items():
        fields[name]["reference"] = ref
    for result in fields.values():
        result.setdefault("steerable", True)
    conditional = manifests["conditional"]
    return ExperimentSummary(
        name=options.name,
        fields=fields,
        gain_vs_no_header=final["gain_vs_no_header"],
        gain_vs_shuffled=final["gain_vs_shuffled"],
        loss_cost_vs_unconditional=final["loss_cost_vs_unconditional"],
        loss=final["loss"],
        data_efficiency=final["data_efficiency"],
        cooldown=final.get("cooldown", {}),
        judge=judges.describe(),
        tokens_trained=conditional.tokens_trained,
        steps=conditional.steps,
        device=_device(conditional),
        model={"preset": arms["conditional"].preset, "parameters": conditional.parameters},
        runs={role: arms[role].run for role in arms},
        tokens_per_second={role: m.tokens_per_second for role, m in manifests.items()},
        # arms already trained to the end by an earlier run are reused: only the evaluation ran again
        arms_trained_earlier=[role for role, m in manifests.items() if m.steps_this_launch == 0],
        samples_per_value=options.samples_per_value,
        baseline_samples=options.baseline_samples,
        requests=requests.values,
        conditioning={"template": conditioning.template, "fields": conditioning.fields},
        curve=curve,
        minutes=minutes,
        options=options.model_dump(mode="json"),
    )


def _block_size(lake: DataLake, shards: Sequence[str]) -> int:
    for shard in shards:
        meta = lake.blocks(shard).meta
        if meta.is_file():
            return BlockMeta.load(meta).block_size
    raise FileNotFoundError(f"{lake.blocks_dir}: no token blocks for {list(shards)}; materialize token_blocks")


def _device(manifest: CheckpointManifest) -> str:
    device = manifest.device or "cpu"
    return f"{device} ({os.cpu_count()} cores)" if device == "cpu" else device
