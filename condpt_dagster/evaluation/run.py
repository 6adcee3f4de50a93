"""Running an evaluation: does the model follow its conditionals, and what did conditioning cost?

On held-out documents (never packed into training blocks) and on generations:
1. conditioning gain: body loss (nats/token) with the true header, with no header and with headers
   shuffled across documents; differences with bootstrap 95% intervals, per topic and rating;
2. control adherence: for each requested label value (and for no header), ``k`` samples are labeled by the
   same labeler as the training data; per value precision/recall, lift over the unconditional rate and a
   requested x judged confusion matrix; per field a lift with its bootstrap 95% interval and a verdict
   (steers / no evidence / steers away); synopsis fidelity as embedding similarity against a mismatched
   synopsis, with the difference's interval;
3. diversity per condition (distinct-1/2);
4. label attribution: label values ranked by p(text | header) agree with the labeler's (top-1 / top-3).
The pure metric functions live in evaluation/metrics.py; :func:`evaluate` ties them to a model.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from condpt_dagster.conditioning.heldout import HeldOut
from condpt_dagster.core.settings import EvalSettings
from condpt_dagster.evaluation.judges import LabelerJudge
from condpt_dagster.evaluation.metrics import (
    adherence,
    conditioning_gain,
    derangement,
    distinct_n,
    lift_with_ci,
    rank_agreement,
)
from condpt_dagster.evaluation.requests import label_value
from condpt_dagster.evaluation.verdict import headline, verdict


@torch.inference_mode()
def body_nll(
    model: Any, prefixes: Sequence[Sequence[int]], bodies: Sequence[Sequence[int]], pad_id: int, batch_size: int = 16
) -> list[tuple[float, int]]:
    """(summed NLL in nats, token count) of each body given its prefix (header ids ending with <|body|>)."""
    out = []
    for start in range(0, len(bodies), batch_size):
        rows = [
            list(p) + list(b)
            for p, b in zip(prefixes[start : start + batch_size], bodies[start : start + batch_size], strict=True)
        ]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        target_mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, (row, prefix) in enumerate(zip(rows, prefixes[start : start + batch_size], strict=True)):
            ids[i, : len(row)] = torch.tensor(row)
            attention[i, : len(row)] = 1
            target_mask[i, len(prefix) : len(row)] = True
        logits = model(input_ids=ids, attention_mask=attention).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
        mask = target_mask[:, 1:]
        for i in range(len(rows)):
            out.append((float(nll[i][mask[i]].sum()), int(mask[i].sum())))
    return out


CONDITIONS = ("true_header", "no_header", "shuffled")


def header_losses(
    generator: Any,
    heldout: HeldOut,
    chosen: Sequence[int],
    max_body_tokens: int,
    seed: int,
    conditions: Sequence[str] = CONDITIONS,
) -> dict[str, list[float]]:
    """Per-document body loss (nats/token) of the ``chosen`` held-out documents under each header condition:
    their true header, none, and another chosen document's header (a derangement). The eval report and the
    steering experiment both measure conditioning with it."""
    tok = generator.tokenizer
    bodies = [heldout.body_ids[i][:max_body_tokens] for i in chosen]
    true = [heldout.header_ids[i] for i in chosen]
    prefixes = {
        "true_header": lambda: true,
        "no_header": lambda: [[tok.body_id]] * len(chosen),
        "shuffled": lambda: [true[j] for j in derangement(len(chosen), seed)],
    }
    losses = {}
    for name in conditions:
        sums = body_nll(generator.model, prefixes[name](), bodies, tok.pad_id)
        losses[name] = [s / max(c, 1) for s, c in sums]
    return losses


def _breakdown(per_condition: dict[str, list[float]], labels: list[dict[str, Any]], reps: int) -> dict[str, Any]:
    """Gain vs no header per top topic and per rating."""
    true, none = per_condition["true_header"], per_condition["no_header"]
    breakdown = {}
    for field_name in ("topics", "rating"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(labels[: len(true)]):
            value = row.get(field_name)
            groups[(value[0] if value else "(none)") if isinstance(value, list) else str(value)].append(i)
        breakdown[field_name] = {
            key: {
                **conditioning_gain([true[i] for i in idx], [none[i] for i in idx], reps),
                "loss_true_header": round(float(np.mean([true[i] for i in idx])), 5),
            }
            for key, idx in sorted(groups.items())
        }
    return breakdown


def _control(generator, requests, label_texts, options: EvalSettings) -> tuple[dict, dict, dict[str, list[str]]]:
    """Adherence per requested field (labeled by ``label_texts``), each field's lift with its interval and
    verdict, and the samples of every condition. Not ``steering.judged_lift``: the report labels each sample
    once and reads adherence and lift from the same rows (the labeler is the slow part on CPU)."""
    unconditional = _samples(generator, None, options)
    texts_by_condition: dict[str, list[str]] = {"(no header)": unconditional}
    unconditional_labels = label_texts(unconditional)
    control: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for field_name, values in requests.items():
        requested, generated = [], []
        for value in values:
            samples = _samples(generator, {field_name: [value] if field_name in ("topics", "tags") else value}, options)
            texts_by_condition[f"{field_name}={value}"] = samples
            requested += [value] * len(samples)
            generated += samples
        judged = [
            LabelerJudge.value(row, field_name, value)
            for row, value in zip(label_texts(generated), requested, strict=True)
        ]
        base = [LabelerJudge.value(row, field_name, None) for row in unconditional_labels]
        if field_name == "tags":  # open vocabulary: judged = requested tag present or not
            base = [v for row in unconditional_labels for v in values if v in row.tags]
        control[field_name] = adherence(requested, judged, base)
        fields[field_name] = _field_lift(field_name, values, requested, judged, unconditional_labels, options)
    return control, fields, texts_by_condition


def _field_lift(field_name, values, requested, judged, unconditional_labels, options: EvalSettings) -> dict[str, Any]:
    """Lift of the field and of each value over the no-header rate (bootstrap 95% intervals) and the verdict."""
    asked = {v: [j == v for r, j in zip(requested, judged, strict=True) if r == v] for v in values}
    if field_name == "tags":  # open vocabulary: whether the tag is among the row's tags
        baseline = {v: [v in row.tags for row in unconditional_labels] for v in values}
    else:
        baseline = {v: [LabelerJudge.value(row, field_name, None) == v for row in unconditional_labels] for v in values}
    result = lift_with_ci(asked, baseline, options.bootstrap_reps, options.seed)
    return {**result, "verdict": verdict(result)}


def _synopsis_verdict(fidelity: dict[str, Any]) -> dict[str, Any]:
    """Synopsis as a field: the matched-minus-mismatched similarity, its interval, the verdict, and a flag
    when generations match a random synopsis at least as well as the requested one."""
    result = {
        "similarity": fidelity["mean_similarity"],
        "mismatched_similarity": fidelity["mismatched_similarity"],
        "difference": fidelity["difference"],
        "ci_low": fidelity["ci_low"],
        "ci_high": fidelity["ci_high"],
        "pairs": fidelity["pairs"],
    }
    result["verdict"] = verdict(result, no_effect=0.0)
    if result["difference"] <= 0:
        result["flag"] = "below the mismatched baseline: generations match another synopsis as well as the asked one"
    return result


def _headline(losses, gains, control, requests, attribution) -> dict[str, Any]:
    lifts = [control[f]["mean_lift"] for f in ("topics", "rating", "format", "sentiment") if f in control]
    finite = [x for x in lifts if x is not None and np.isfinite(x)]
    return {
        "loss_true_header": losses.get("true_header"),
        "loss_no_header": losses.get("no_header"),
        "loss_shuffled_header": losses.get("shuffled"),
        "gain_vs_no_header": gains.get("vs_no_header", {}).get("gain"),
        "gain_vs_shuffled": gains.get("vs_shuffled", {}).get("gain"),
        "mean_lift": round(float(np.mean(finite)), 4) if finite else None,
        "mean_adherence": round(float(np.mean([control[f]["mean_recall"] for f in requests])), 4) if requests else None,
        "synopsis_fidelity": control["synopsis_fidelity"]["mean_similarity"],
        "attribution_top1_topics": attribution.get("topics", {}).get("top1"),
    }


def evaluate(
    generator: Any,
    heldout: HeldOut,
    label_texts: Callable[[list[str]], list[Any]],
    embed: Callable[[list[str]], np.ndarray],
    options: EvalSettings,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every measurement; ``generator`` is a ConditionalGenerator, ``label_texts`` the training labeler."""
    n = min(options.max_docs, len(heldout.ids))
    progress(f"losses on {n} held-out documents under {len(CONDITIONS)} conditions")
    per_condition = header_losses(generator, heldout, range(n), options.max_body_tokens, options.seed) if n else {}
    losses = {k: round(float(np.mean(v)), 5) for k, v in per_condition.items()}
    reps = options.bootstrap_reps
    gains = {
        f"vs_{other}": conditioning_gain(per_condition["true_header"], per_condition[other], reps)
        for other in ("no_header", "shuffled")
        if n
    }
    requests = _requests(heldout.labels[:n], options)
    progress(
        f"generating {options.samples_per_value} samples for each of {sum(map(len, requests.values()))} "
        "requested values and for no header"
    )
    control, fields, texts_by_condition = _control(generator, requests, label_texts, options)
    control["synopsis_fidelity"] = _synopsis_fidelity(generator, heldout.labels[:n], label_texts, embed, options)
    if control["synopsis_fidelity"]["pairs"]:
        fields["synopsis"] = _synopsis_verdict(control["synopsis_fidelity"])
    progress("label attribution")
    attribution = _attribution(generator, heldout, requests, options)
    return {
        "verdict": headline(fields),
        "fields": fields,
        "headline": _headline(losses, gains, control, requests, attribution),
        "losses": losses,
        "gains": gains,
        "breakdown": _breakdown(per_condition, heldout.labels, reps) if n else {},
        "control": control,
        "diversity": {
            c: {"distinct_1": distinct_n(t, 1), "distinct_2": distinct_n(t, 2)} for c, t in texts_by_condition.items()
        },
        "attribution": attribution,
        "options": options.model_dump(mode="json"),
        "samples": {k: v[:2] for k, v in texts_by_condition.items()},
    }


def _requests(labels: list[dict[str, Any]], options: EvalSettings) -> dict[str, list[str]]:
    topics = Counter(t for row in labels for t in (row.get("topics") or [])[:1])
    tags = Counter(t for row in labels for t in (row.get("tags") or []))
    ratings = sorted({row.get("rating") for row in labels if row.get("rating")})
    formats = Counter(row.get("format") for row in labels if row.get("format") not in (None, "unknown"))
    requests = {
        "topics": [t for t, _ in topics.most_common(options.topic_values)],
        "rating": ratings,
        "format": [f for f, _ in formats.most_common(options.topic_values)],
        "sentiment": ["positive", "negative"],
        "tags": [t for t, _ in tags.most_common(options.tag_values)],
    }
    return {k: v for k, v in requests.items() if v}


def _samples(generator: Any, labels: dict[str, Any] | None, options: EvalSettings) -> list[str]:
    return [
        generator.text(
            generator.generate(
                labels,
                "",
                seed=options.seed + i,
                max_new_tokens=options.max_new_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
            )
        )
        for i in range(options.samples_per_value)
    ]


def _synopsis_fidelity(generator, labels, label_texts, embed, options: EvalSettings) -> dict[str, Any]:
    synopses = [row["synopsis"] for row in labels if row.get("synopsis")][: options.synopses]
    pairs = []
    for synopsis in synopses:
        for text in _samples(generator, {"synopsis": synopsis}, options):
            pairs.append((synopsis, label_texts([text])[0].synopsis))
    if not pairs:
        return {"pairs": 0, "mean_similarity": None}
    a, b = embed([p[0] for p in pairs]), embed([p[1] for p in pairs])
    sims = (a * b).sum(axis=1)
    shuffled = (a * b[np.roll(np.arange(len(b)), 1)]).sum(axis=1) if len(b) > 1 else sims
    difference = conditioning_gain(shuffled, sims, options.bootstrap_reps)  # matched - mismatched, per pair
    return {
        "pairs": len(pairs),
        "mean_similarity": round(float(sims.mean()), 4),
        "mismatched_similarity": round(float(shuffled.mean()), 4),
        "difference": difference["gain"],
        "ci_low": difference["ci_low"],
        "ci_high": difference["ci_high"],
    }


def _attribution(generator, heldout: HeldOut, requests: dict[str, list[str]], options: EvalSettings) -> dict:
    out = {}
    m = min(options.attribution_docs, len(heldout.ids))
    for field_name in ("topics", "rating"):
        values = requests.get(field_name, [])
        if len(values) < 2:
            continue
        docs = [i for i in range(m) if label_value(heldout.labels[i], field_name) in values]
        prefixes, bodies, owners = [], [], []
        for i in docs:
            for value in values:
                header = generator.header({field_name: [value] if field_name == "topics" else value})
                prefixes.append(generator.tokenizer.encode_docs([header], [""]).header_ids[0])
                bodies.append(heldout.body_ids[i][: options.max_body_tokens])
                owners.append((i, value))
        sums = body_nll(generator.model, prefixes, bodies, generator.tokenizer.pad_id)
        scores: dict[int, dict[str, float]] = defaultdict(dict)
        for (i, value), (s, _) in zip(owners, sums, strict=True):
            scores[i][value] = -s  # log p(text | header)
        out[field_name] = {
            **rank_agreement([scores[i] for i in docs], [label_value(heldout.labels[i], field_name) for i in docs]),
            "candidates": len(values),
        }
    return out
