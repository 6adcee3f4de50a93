"""Writes a steering experiment's files: summary.json, samples.json, report.md/.html, heatmaps, the curve."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from condpt_dagster.core.io import atomic_write_text
from condpt_dagster.core.lake import ExperimentFiles
from condpt_dagster.evaluation.efficiency import efficiency_line
from condpt_dagster.evaluation.generations import write_generations
from condpt_dagster.evaluation.report import draw_lift_plot, html_page, markdown_page, plt, save_figure
from condpt_dagster.evaluation.steering import ExperimentResult, verdict_lines
from condpt_dagster.evaluation.summary import ExperimentSummary
from condpt_dagster.evaluation.verdict import headline as fields_headline

# What each measure means, one sentence each, under the headline.
MEASURES = [
    "Lift: how much more often the judge finds a requested value in generations asked for it than in the "
    "unconditional model's; 1 means no steering.",
    "95% interval (bootstrap): a field steers when the whole interval lies above 1; one that includes 1 is no "
    "evidence either way.",
    "Adherence vs baseline rate: the share of generations judged to carry the value, with its header and without any.",
    "Corpus reference: the same lift measured on held-out documents as labelled, the most this judge can show.",
    "Flip cost: how much worse held-out text reads when the header names another value of the field "
    "(nats/token); above 0 means the model reads the field.",
]


def headline(summary: ExperimentSummary) -> str:
    """``2 of 5 fields steer: format, topics`` — the report's first line and the asset's first metadata entry."""
    return fields_headline(summary.fields)


def lift_plot(summary: ExperimentSummary, path) -> None:
    draw_lift_plot(summary.fields, path, headline(summary))


def heatmap(result: dict[str, Any], name: str, path) -> None:
    """Requested x judged, each row as shares of the requested value's samples."""
    matrix = result["confusion"]
    counts = np.array(matrix["counts"], dtype=float)
    shares = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(matrix["judged"]), 1.2 + 0.45 * len(matrix["requested"])), dpi=100)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(matrix["judged"])), matrix["judged"], rotation=50, ha="right", fontsize=8)
    ax.set_yticks(range(len(matrix["requested"])), matrix["requested"], fontsize=8)
    for (i, j), share in np.ndenumerate(shares):
        ax.text(j, i, f"{share:.2f}", ha="center", va="center", fontsize=7, color="white" if share > 0.6 else "k")
    ax.set_xlabel("judged")
    ax.set_ylabel("requested")
    ax.set_title(f"{name}: lift {result['lift']:.2f} [{result['ci_low']:.2f}, {result['ci_high']:.2f}]", fontsize=9)
    save_figure(fig, path)


def curve_plot(summary: ExperimentSummary, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=100)
    points = summary.curve
    tokens = [p["tokens"] for p in points]
    for name in points[0]["fields"] if points else []:
        lifts = [p["fields"][name] for p in points]
        line = ax.plot(tokens, [x["lift"] for x in lifts], marker="o", label=name)[0]
        ax.fill_between(
            tokens, [x["ci_low"] for x in lifts], [x["ci_high"] for x in lifts], alpha=0.15, color=line.get_color()
        )
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("tokens trained")
    ax.set_ylabel("lift (95% CI)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("When steering appears")
    save_figure(fig, path)


Table = tuple[str, list[str], list[list[Any]]]
FIELD_HEADER = ["value", "samples", "adherence", "baseline_rate", "lift", "ci_low", "ci_high", "max_lift",
                "corpus_reference_lift"]  # fmt: skip


def tables(summary: ExperimentSummary) -> list[Table]:
    out = [("Verdict", ["field and verdict"], [[line] for line in verdict_lines(summary)])]
    intervals = {
        "gain_vs_no_header": summary.gain_vs_no_header,
        "gain_vs_shuffled": summary.gain_vs_shuffled,
        "loss_cost_vs_unconditional": summary.loss_cost_vs_unconditional,
    }
    losses = [[name, r.get("gain", r.get("cost")), r["ci_low"], r["ci_high"]] for name, r in intervals.items()]
    out.append(("Held-out losses (nats/token, bootstrap 95% CI)", ["comparison", "value", "ci_low", "ci_high"], losses))
    out.append(("Mean held-out loss", ["model and header", "loss"], [[k, v] for k, v in summary.loss.items()]))
    flips = [
        [name, given, *(r[key].get(k) for k in ("cost", "ci_low", "ci_high", "docs"))]
        for name, r in summary.fields.items()
        for key, given in (("flip_cost", "alone"), ("flip_cost_given_others", "given the other fields"))
        if key in r
    ]
    if flips:
        title = "Flip cost: held-out loss with another value of the field in the header minus the true one (nats/token)"
        out.append((title, ["field", "header", "cost", "ci_low", "ci_high", "docs"], flips))
    for name, result in summary.fields.items():
        if result.get("steerable", True):
            out.append((f"{name} (judge: {summary.judge[name]['judge']})", FIELD_HEADER, _field_rows(result)))
    curve = [
        [p["step"], p["tokens"], *(p["fields"].get(f, {}).get("lift") for f in summary.requests)] for p in summary.curve
    ]
    out.append(("Lift vs tokens", ["step", "tokens", *summary.requests], curve))
    judges = [
        [f, j["judge"], j.get("agreement_with_labels"), j.get("validation_docs")] for f, j in summary.judge.items()
    ]
    out.append(("Judges", ["field", "judge", "agreement with labels (held-out docs)", "docs"], judges))
    return out


def _field_rows(result: dict[str, Any]) -> list[list[Any]]:
    """One row per requested value, then the corpus reference and the training labeler's verdict."""
    reference = result.get("reference", {})
    by_value = {r["value"]: r["lift"] for r in reference.get("values", [])}
    keys = ("value", "samples", "adherence", "baseline_rate", "lift", "ci_low", "ci_high", "max_lift")
    rows = [[*(r[k] for k in keys), by_value.get(r["value"])] for r in result["values"]]
    if "lift" in reference:
        measured = (reference[k] for k in ("adherence", "baseline_rate", "lift", "ci_low", "ci_high"))
        rows.append(["(held-out documents as labelled)", reference["docs"], *measured, "", ""])
    labeler = result.get("labeler")
    if labeler:
        measured = (labeler[k] for k in ("lift", "ci_low", "ci_high"))
        rows.append(["(training labeler as judge)", "", labeler["adherence"], "", *measured, "", ""])
    return rows


def write_experiment(result: ExperimentResult, out: ExperimentFiles) -> ExperimentFiles:
    summary = result.summary
    out.folder.mkdir(parents=True, exist_ok=True)
    lift_plot(summary, out.lift_plot)
    lead = (headline(summary), [out.lift_plot.name], MEASURES)
    plots = []
    for name, field_result in summary.fields.items():
        if field_result.get("steerable", True):
            heatmap(field_result, name, out.heatmap(name))
            plots.append(out.heatmap(name).name)
    if summary.curve:
        curve_plot(summary, out.curve_plot)
        plots.append(out.curve_plot.name)
    atomic_write_text(out.samples, json.dumps({k: v[:8] for k, v in result.samples.items()}, indent=1))
    write_generations(result.generations, out.generations)
    title = f"condpt steering experiment: {summary.name}"
    atomic_write_text(out.markdown, markdown_page(title, tables(summary), plots, _intro(summary), lead))
    atomic_write_text(out.html, html_page(title, tables(summary), plots, _intro(summary), lead))
    summary.save(out.summary)  # last: its presence marks a complete experiment
    return out


def _cooldown_lines(cooldown: dict[str, Any]) -> list[str]:
    from condpt_dagster.evaluation.cooldown import cooldown_line

    return [cooldown_line(cooldown).capitalize() + ".", efficiency_line(cooldown["data_efficiency"]).capitalize() + "."]


def _intro(summary: ExperimentSummary) -> list[str]:
    reused = summary.arms_trained_earlier
    return [
        f"Model {summary.model['preset']} ({summary.model['parameters'] / 1e6:.1f}M parameters), "
        f"{summary.tokens_trained:,} tokens, {summary.steps} steps per arm on {summary.device}; "
        f"{summary.samples_per_value} generations per requested value, {summary.baseline_samples} from the "
        f"unconditional baseline; {summary.minutes['total']} minutes"
        + (f" (arms trained by an earlier run, reused: {', '.join(reused)})." if reused else "."),
        "A lift interval that includes 1 is no evidence of steering. The corpus reference is the same lift "
        "measured on held-out documents (their first tokens, judged like a generation, grouped by their labels): "
        "what a model that reproduced the corpus exactly would score under this judge.",
        *([efficiency_line(summary.data_efficiency).capitalize() + "."] if summary.data_efficiency else []),
        *(_cooldown_lines(summary.cooldown) if summary.cooldown else []),
    ]
