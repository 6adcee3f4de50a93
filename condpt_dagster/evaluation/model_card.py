"""The model card (``checkpoints/<run>/hf/README.md``) of an exported model: how to prompt it, what it can be
asked for, what it learned from, and what its evaluations found.

Written when training finishes, rewritten by the eval report (and, for the conditional arm, by the steering
experiment) with their results. Labels, values and versions go through ``core.markdown``.
"""

from __future__ import annotations

import json
from typing import Any

from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.io import atomic_write_text
from condpt_dagster.core.lake import CheckpointFiles
from condpt_dagster.core.markdown import cell, code, fenced
from condpt_dagster.core.vocab import BODY_TOKEN
from condpt_dagster.evaluation import verdict
from condpt_dagster.evaluation.summary import ExperimentSummary

FRONT_MATTER = """---
library_name: transformers
pipeline_tag: text-generation
tags:
- condpt
- conditional-pretraining
- gpt_neox
---
"""
SHOWN_VALUES = 12  # per field in the vocabulary section (most frequent first)


def write_model_card(
    files: CheckpointFiles, eval_metrics: dict[str, Any] | None = None, experiment: ExperimentSummary | None = None
) -> None:
    """(Re)write the card of the run in ``files`` from its manifest, header format and any results given."""
    manifest = CheckpointManifest.load(files.manifest)
    settings = json.loads(files.hf_settings.read_text(encoding="utf-8"))
    header_format = HeaderFormat.from_json(settings["conditioning"], str(files.hf_settings))
    atomic_write_text(files.hf_dir / "README.md", model_card(manifest, header_format, eval_metrics, experiment))


def model_card(
    manifest: CheckpointManifest,
    header_format: HeaderFormat,
    eval_metrics: dict[str, Any] | None,
    experiment: ExperimentSummary | None,
) -> str:
    example = example_header(header_format)
    lines = [
        FRONT_MATTER,
        f"# {manifest.run}: a conditionally pretrained language model",
        "",
        f"GPT-NeoX, {manifest.parameters:,} parameters, trained by condpt for {manifest.steps:,} steps "
        f"({manifest.tokens_trained:,} tokens, final training loss "
        + (f"{manifest.final_loss:.3f}" if manifest.final_loss is not None else "n/a")
        + f", on {manifest.device}) on documents that start with a header of their labels "
        f"(template `{header_format.template}`, fields {', '.join(header_format.fields)}), then `{BODY_TOKEN}`, "
        "then the text. Write the labels you want, then the separator, then the start of a text.",
        "",
        "## How to prompt",
        "",
        fenced(_snippet(example), "python"),
        "",
        "The tokenizer knows the control tokens; the generation config never samples them. With condpt, "
        f"`condpt generate --checkpoint` {code(manifest.run)} "
        '`--rating PG --topics politics "The senator"` refuses values the model never saw.',
        "",
        *_vocabulary(header_format),
        *_lineage(manifest),
        *_results(eval_metrics, experiment),
    ]
    return "\n".join(lines) + "\n"


def example_header(header_format: HeaderFormat) -> str:
    """The header of the most frequent value of each closed field seen in training."""
    labels: dict[str, Any] = {}
    for name, counts in header_format.seen_values.items():
        if counts and name != "tags":
            top = max(counts, key=lambda v: counts[v])
            labels[name] = [top] if name == "topics" else top
    return header_format.header(labels)


def _snippet(header: str) -> str:
    return (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")\n'
        'model = AutoModelForCausalLM.from_pretrained("<this folder>")\n'
        f"prompt = {json.dumps(header + BODY_TOKEN)} + {json.dumps('The')}\n"
        'ids = tokenizer(prompt, return_tensors="pt")\n'
        "print(tokenizer.decode(model.generate(**ids)[0]))"
    )


def _vocabulary(header_format: HeaderFormat) -> list[str]:
    lines = ["## What it can be asked for", "", "Values seen in training (documents), most frequent first:", ""]
    for name in header_format.fields:
        counts = header_format.seen_values.get(name, {})
        if counts:
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_VALUES]
            more = f" and {len(counts) - SHOWN_VALUES} more" if len(counts) > SHOWN_VALUES else ""
            lines.append(f"- {name}: " + ", ".join(f"{code(v)} ({n:,})" for v, n in top) + more)
        else:
            lines.append(f"- {name}: free text" if name == "synopsis" else f"- {name}: (no value counted)")
    return [*lines, ""]


def _lineage(manifest: CheckpointManifest) -> list[str]:
    lines = [
        "## What it learned from",
        "",
        f"Tokenizer sha256 {cell(manifest.tokenizer_sha256)}. Every shard's blocks, with the labeler version its "
        "headers came from:",
        "",
        "| shard | labels version | blocks data version |",
        "|---|---|---|",
    ]
    for shard in manifest.shards:
        lineage = manifest.lineage.get(shard, {})
        version = lineage.get("blocks_data_version") or manifest.partition_data_versions.get(shard)
        lines.append(f"| {cell(shard)} | {cell(lineage.get('labels_version'))} | {cell(version)} |")
    return [*lines, ""]


def _results(eval_metrics: dict[str, Any] | None, experiment: ExperimentSummary | None) -> list[str]:
    from condpt_dagster.evaluation.steering import verdict_lines as experiment_lines

    lines = ["## Does it follow its labels", ""]
    if eval_metrics is not None:
        fields = eval_metrics.get("fields", {})
        lines += [
            "Eval report (judge: the training labeler; baseline: the same model with no header):",
            "",
            fenced("\n".join([verdict.headline(fields), *verdict.verdict_lines(fields)])),
            "",
        ]
    if experiment is not None:
        lines += [
            f"Steering experiment `{experiment.name}` (against a matched unconditional model, independent judges):",
            "",
            fenced("\n".join(experiment_lines(experiment))),
            "",
        ]
    if eval_metrics is None and experiment is None:
        lines += ["Not evaluated yet: materialize `eval_report` (or run `condpt experiment steer`).", ""]
    return lines
