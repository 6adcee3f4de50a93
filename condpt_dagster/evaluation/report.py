"""Writes an evaluation's files: metrics.json, report.md, report.html and PNG plots (matplotlib)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from condpt_dagster.core.io import atomic_output, atomic_write_text
from condpt_dagster.core.lake import EvalFiles
from condpt_dagster.evaluation.metrics import to_json
from condpt_dagster.evaluation.verdict import STEERED, headline, verdict_lines

SYNOPSIS_COLUMNS = ("pairs", "mean_similarity", "mismatched_similarity", "difference", "ci_low", "ci_high")
# What each measure means, one sentence each, under the headline.
MEASURES = [
    "Lift: how much more often the training labeler finds a requested value in generations asked for it than "
    "in generations with no header; 1 means no steering.",
    "95% interval (bootstrap): a field steers when the whole interval lies above 1; one that includes 1 is no "
    "evidence either way (few samples per value give wide intervals).",
    "Synopsis: the similarity of a requested synopsis with the generation's own, against a mismatched synopsis; "
    "it steers when the difference's interval lies above 0.",
    "Conditioning gain: how much lower the held-out loss is with the document's true header than with none or "
    "a shuffled one (nats/token); above 0 means the model reads its headers.",
    "The judge is the labeler that labelled the training data, not an independent one: the steering "
    "experiment's judges are independent.",
]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def sections(metrics: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, header, rows) tables shared by the Markdown and HTML reports."""
    out = [("Summary", ["metric", "value"], [[k, v] for k, v in metrics["headline"].items()])]
    out.append(
        (
            "Conditioning gain (nats/token, bootstrap 95% CI)",
            ["comparison", "gain", "ci_low", "ci_high", "docs"],
            [[k, g["gain"], g["ci_low"], g["ci_high"], g["docs"]] for k, g in metrics["gains"].items()],
        )
    )
    for field_name, groups in metrics["breakdown"].items():
        out.append(
            (
                f"Gain vs no header by {field_name}",
                [field_name, "loss_true_header", "gain", "ci_low", "ci_high", "docs"],
                [
                    [k, g["loss_true_header"], g["gain"], g["ci_low"], g["ci_high"], g["docs"]]
                    for k, g in groups.items()
                ],
            )
        )
    for field_name, result in metrics["control"].items():
        if field_name == "synopsis_fidelity":
            continue
        out.append(
            (
                f"Control adherence: {field_name}",
                ["value", "samples", "recall", "precision", "unconditional_rate", "lift"],
                [
                    [r["value"], r["samples"], r["recall"], r["precision"], r["unconditional_rate"], r["lift"]]
                    for r in result["values"]
                ],
            )
        )
    fidelity = metrics["control"].get("synopsis_fidelity", {})
    out.append(
        (
            "Synopsis fidelity (cosine similarity of requested vs generated synopsis)",
            list(SYNOPSIS_COLUMNS),
            [[fidelity.get(k) for k in SYNOPSIS_COLUMNS]],
        )
    )
    out.append(
        (
            "Diversity",
            ["condition", "distinct_1", "distinct_2"],
            [[c, d["distinct_1"], d["distinct_2"]] for c, d in metrics["diversity"].items()],
        )
    )
    out.append(
        (
            "Label attribution (values ranked by p(text | header))",
            ["field", "top1", "top3", "docs", "candidates"],
            [[f, a["top1"], a["top3"], a["docs"], a["candidates"]] for f, a in metrics["attribution"].items()],
        )
    )
    return out


def table_markdown(name: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows), ""]


def markdown_page(
    title: str, tables: list, plots: list[str], intro: list[str] = (), lead: tuple[str, list[str], list[str]] = ()
) -> str:
    """A Markdown report: ``lead`` (a headline, its plots, what each measure means) first, then intro
    paragraphs, (name, header, rows) tables, then the plots (relative links)."""
    lines = [f"# {title}", ""]
    if lead:
        headline, lead_plots, notes = lead
        lines += [f"**{headline}**", "", *(f"![{p}]({p})\n" for p in lead_plots), *(f"- {n}" for n in notes), ""]
    lines += [f"{p}\n" for p in intro]
    for name, header, rows in tables:
        lines += table_markdown(name, header, rows)
    return "\n".join([*lines, "## Plots", "", *(f"![{p}]({p})" for p in plots), ""])


def html_page(
    title: str, tables: list, plots: list[str], intro: list[str] = (), lead: tuple[str, list[str], list[str]] = ()
) -> str:
    """The same report as one HTML page (plots linked relatively), ``lead`` at the top."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if lead:
        headline, lead_plots, notes = lead
        parts.append(f"<h2 id='headline'>{html.escape(headline)}</h2>")
        parts += [f"<img src='{p}' alt='{p}' style='max-width:100%'>" for p in lead_plots]
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts += [f"<p>{html.escape(p)}</p>" for p in intro]
    for name, header, rows in tables:
        parts.append(
            f"<h2>{html.escape(name)}</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
            + "</table>"
        )
    parts.append("<h2>Plots</h2>" + "".join(f"<img src='{p}' alt='{p}' style='max-width:100%'>" for p in plots))
    return "\n".join(parts)


def lead(metrics: dict[str, Any], lift_plot: str) -> tuple[str, list[str], list[str]]:
    """The report's top: the headline, the lift plot, a line per field, what each measure means."""
    fields = metrics["fields"]
    return headline(fields), [lift_plot], [*verdict_lines(fields), *MEASURES]


def draw_lift_plot(fields: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """Every field's lift with its 95% interval on one log axis, the line of no steering at 1."""
    judged = [(n, r) for n, r in fields.items() if r.get("steerable", True) and "lift" in r]
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.45 * max(1, len(judged))), dpi=100)
    for row, (_, r) in enumerate(judged):
        color = "#2a7" if r.get("verdict") == STEERED else "#c55" if r["ci_high"] < 1 else "#888"
        ax.errorbar(r["lift"], row, xerr=[[r["lift"] - r["ci_low"]], [r["ci_high"] - r["lift"]]], fmt="o",
                    color=color, capsize=3)  # fmt: skip
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(judged)), [n for n, _ in judged])
    ax.set_xscale("log")
    ax.set_xlabel("lift (95% interval); green: steers")
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def markdown(metrics: dict[str, Any], title: str, plots: list[str], lift_plot: str) -> str:
    text = markdown_page(title, sections(metrics), plots, lead=lead(metrics, lift_plot))
    lines = ["## Sample generations", ""]
    for condition, texts in metrics["samples"].items():
        lines += [f"- **{condition}**: " + " / ".join(repr(t[:160]) for t in texts)]
    return text + "\n".join(lines) + "\n"


def html_report(metrics: dict[str, Any], title: str, plots: list[str], lift_plot: str) -> str:
    return html_page(title, sections(metrics), plots, lead=lead(metrics, lift_plot))


def plot_all(metrics: dict[str, Any], out: EvalFiles) -> None:
    losses = metrics["losses"]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.bar(list(losses), list(losses.values()), color=["#2a7", "#999", "#c55"])
    ax.set_ylabel("body loss (nats/token)")
    ax.set_title("Held-out loss by header condition")
    save_figure(fig, out.loss_plot)

    rows = [
        (f"{f}={r['value']}", r["recall"], r["unconditional_rate"])
        for f, c in metrics["control"].items()
        if f != "synopsis_fidelity"
        for r in c["values"]
    ]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(rows) + 1)), dpi=100)
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r[1] for r in rows], height=0.4, label="requested (adherence)")
    ax.barh(y + 0.2, [r[2] for r in rows], height=0.4, label="no header (base rate)")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("share of samples judged to have the value")
    ax.legend(fontsize=8)
    save_figure(fig, out.adherence_plot)

    confusion = metrics["control"].get("topics", {}).get("confusion")
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    if confusion and confusion["counts"]:
        counts = np.array(confusion["counts"])
        ax.imshow(counts, cmap="Blues")
        ax.set_xticks(range(len(confusion["judged"])), confusion["judged"], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(confusion["requested"])), confusion["requested"], fontsize=8)
        for (i, j), v in np.ndenumerate(counts):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xlabel("judged topic")
    ax.set_ylabel("requested topic")
    save_figure(fig, out.topic_confusion_plot)


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_report(metrics: dict[str, Any], out: EvalFiles, title: str) -> EvalFiles:
    """Write plots, metrics.json, report.md and report.html into ``out``."""
    out.folder.mkdir(parents=True, exist_ok=True)
    plot_all(metrics, out)
    draw_lift_plot(metrics["fields"], out.lift_plot, headline(metrics["fields"]))
    atomic_write_text(out.metrics, to_json(metrics))
    plots = [p.name for p in out.plots]  # relative links: the report folder can be moved
    atomic_write_text(out.markdown, markdown(metrics, title, plots, out.lift_plot.name))
    atomic_write_text(out.html, html_report(metrics, title, plots, out.lift_plot.name))
    return out
