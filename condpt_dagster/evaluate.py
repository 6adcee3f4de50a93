"""Stage 6: does the model follow its conditionals, and what did conditioning cost?

On held-out documents (never packed into training blocks) and on generations:
1. conditioning gain: body loss (nats/token) with the true header, with no header and with headers
   shuffled across documents; differences with bootstrap 95% intervals, per topic and rating;
2. control adherence: for each requested label value (and for no header), ``k`` samples are labeled by the
   same labeler as the training data; per value precision/recall, lift over the unconditional rate and a
   requested x judged confusion matrix; synopsis fidelity as embedding similarity;
3. diversity per condition (distinct-1/2);
4. label attribution: label values ranked by p(text | header) agree with the labeler's (top-1 / top-3).
The pure metric functions come first; :func:`evaluate` ties them to a model.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------- metrics


def bootstrap_ci(values: Sequence[float], reps: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile bootstrap interval."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(reps, arr.size))].mean(axis=1)
    return float(arr.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def conditioning_gain(nll_true: Sequence[float], nll_other: Sequence[float], reps: int = 1000) -> dict[str, float]:
    """Per-document loss difference other - true (positive: the true header helps), with its interval."""
    diff = np.asarray(nll_other) - np.asarray(nll_true)
    mean, lo, hi = bootstrap_ci(diff, reps)
    return {"gain": round(mean, 5), "ci_low": round(lo, 5), "ci_high": round(hi, 5), "docs": int(diff.size)}


def adherence(requested: Sequence[str], judged: Sequence[str], unconditional: Sequence[str]) -> dict[str, Any]:
    """Per requested value: recall (= adherence), precision, lift over the unconditional rate; confusion."""
    values = sorted(set(requested))
    base = Counter(unconditional)
    rows = []
    for value in values:
        asked = [j for r, j in zip(requested, judged, strict=True) if r == value]
        judged_as = [r for r, j in zip(requested, judged, strict=True) if j == value]
        recall = sum(j == value for j in asked) / len(asked)
        precision = sum(r == value for r in judged_as) / len(judged_as) if judged_as else 0.0
        base_rate = base[value] / len(unconditional) if unconditional else 0.0
        rows.append(
            {
                "value": value,
                "samples": len(asked),
                "recall": round(recall, 4),
                "precision": round(precision, 4),
                "unconditional_rate": round(base_rate, 4),
                # Undefined when the value never appears without a header (no base rate to compare with).
                "lift": round(recall / base_rate, 4) if base_rate > 0 else None,
            }
        )
    judged_values = sorted(set(judged) | set(values))
    matrix = [
        [sum(1 for r, j in zip(requested, judged, strict=True) if r == a and j == b) for b in judged_values]
        for a in values
    ]
    finite = [r["lift"] for r in rows if r["lift"] is not None]
    return {
        "values": rows,
        "confusion": {"requested": values, "judged": judged_values, "counts": matrix},
        "mean_recall": round(float(np.mean([r["recall"] for r in rows])), 4) if rows else 0.0,
        "mean_lift": round(float(np.mean(finite)), 4) if finite else float("nan"),
    }


def distinct_n(texts: Sequence[str], n: int) -> float:
    grams = [tuple(words[i : i + n]) for words in (t.split() for t in texts) for i in range(len(words) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0


def rank_agreement(scores: Sequence[dict[str, float]], truth: Sequence[str]) -> dict[str, float]:
    """Top-1 / top-3 agreement of values ranked by score (higher = more likely) with the true value."""
    top1 = top3 = 0
    for by_value, true in zip(scores, truth, strict=True):
        ranked = sorted(by_value, key=lambda v: -by_value[v])
        top1 += ranked[:1] == [true]
        top3 += true in ranked[:3]
    n = max(1, len(truth))
    return {"top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "docs": len(truth)}


def derangement(n: int, seed: int) -> list[int]:
    """A permutation with no fixed point (for n > 1): shuffled headers never match their own document."""
    order = list(range(n))
    if n < 2:
        return order
    rng = random.Random(seed)
    while True:
        rng.shuffle(order)
        if all(i != j for i, j in enumerate(order)):
            return order


# -------------------------------------------------------------------------------------------- model side


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


@dataclass(frozen=True)
class EvalOptions:
    max_docs: int = 200  # held-out documents for losses
    max_body_tokens: int = 192
    bootstrap_reps: int = 1000
    samples_per_value: int = 4  # k
    max_new_tokens: int = 48
    temperature: float = 0.9
    top_p: float = 0.95
    topic_values: int = 6  # most frequent held-out topics to request
    tag_values: int = 4  # most frequent keyword tags to request
    synopses: int = 4
    attribution_docs: int = 50
    seed: int = 0


@dataclass
class HeldOut:
    ids: list[str]
    header_ids: list[list[int]]
    body_ids: list[list[int]]
    labels: list[dict[str, Any]]  # label rows (topics, rating, sentiment, tags, synopsis)


def evaluate(
    generator: Any,
    heldout: HeldOut,
    label_texts: Callable[[list[str]], list[Any]],
    embed: Callable[[list[str]], np.ndarray],
    options: EvalOptions,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every measurement; ``generator`` is a ConditionalGenerator, ``label_texts`` the training labeler."""
    tok, model = generator.tokenizer, generator.model
    n = min(options.max_docs, len(heldout.ids))
    bodies = [b[: options.max_body_tokens] for b in heldout.body_ids[:n]]
    true_prefix = heldout.header_ids[:n]
    none_prefix = [[tok.body_id]] * n
    perm = derangement(n, options.seed)
    shuffled_prefix = [true_prefix[j] for j in perm]
    progress(f"losses on {n} held-out documents under 3 conditions")
    per_condition = {}
    for name, prefixes in (("true_header", true_prefix), ("no_header", none_prefix), ("shuffled", shuffled_prefix)):
        sums = body_nll(model, prefixes, bodies, tok.pad_id)
        per_condition[name] = [s / max(c, 1) for s, c in sums]
    losses = {k: round(float(np.mean(v)), 5) for k, v in per_condition.items()} if n else {}
    gains = (
        {
            "vs_no_header": conditioning_gain(
                per_condition["true_header"], per_condition["no_header"], options.bootstrap_reps
            ),
            "vs_shuffled": conditioning_gain(
                per_condition["true_header"], per_condition["shuffled"], options.bootstrap_reps
            ),
        }
        if n
        else {}
    )
    breakdown = {}
    for field_name in ("topics", "rating"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i in range(n):
            value = heldout.labels[i].get(field_name)
            key = (value[0] if value else "(none)") if isinstance(value, list) else str(value)
            groups[key].append(i)
        breakdown[field_name] = {
            key: {
                **conditioning_gain(
                    [per_condition["true_header"][i] for i in idx],
                    [per_condition["no_header"][i] for i in idx],
                    options.bootstrap_reps,
                ),
                "loss_true_header": round(float(np.mean([per_condition["true_header"][i] for i in idx])), 5),
            }
            for key, idx in sorted(groups.items())
        }

    requests = _requests(heldout.labels[:n], options)
    progress(
        f"generating {options.samples_per_value} samples for each of {sum(map(len, requests.values()))} "
        "requested values and for no header"
    )
    unconditional = _samples(generator, None, options)
    texts_by_condition: dict[str, list[str]] = {"(no header)": unconditional}
    control: dict[str, Any] = {}
    unconditional_labels = label_texts(unconditional)
    for field_name, values in requests.items():
        requested, generated = [], []
        for value in values:
            samples = _samples(generator, {field_name: [value] if field_name in ("topics", "tags") else value}, options)
            texts_by_condition[f"{field_name}={value}"] = samples
            requested += [value] * len(samples)
            generated += samples
        judged = [_judged(row, field_name, value) for row, value in zip(label_texts(generated), requested, strict=True)]
        base = [_judged(row, field_name, None) for row in unconditional_labels]
        if field_name == "tags":  # open vocabulary: judged = requested tag present or not
            base = [v for row in unconditional_labels for v in values if v in row.tags]
        control[field_name] = adherence(requested, judged, base)
    control["synopsis_fidelity"] = _synopsis_fidelity(generator, heldout.labels[:n], label_texts, embed, options)
    diversity = {
        c: {"distinct_1": distinct_n(t, 1), "distinct_2": distinct_n(t, 2)} for c, t in texts_by_condition.items()
    }

    progress("label attribution")
    attribution = _attribution(generator, heldout, requests, options)
    lifts = [control[f]["mean_lift"] for f in ("topics", "rating", "sentiment") if f in control]
    finite = [x for x in lifts if x is not None and np.isfinite(x)]
    headline = {
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
    return {
        "headline": headline,
        "losses": losses,
        "gains": gains,
        "breakdown": breakdown,
        "control": control,
        "diversity": diversity,
        "attribution": attribution,
        "options": asdict(options),
        "samples": {k: v[:2] for k, v in texts_by_condition.items()},
    }


def _requests(labels: list[dict[str, Any]], options: EvalOptions) -> dict[str, list[str]]:
    topics = Counter(t for row in labels for t in (row.get("topics") or [])[:1])
    tags = Counter(t for row in labels for t in (row.get("tags") or []))
    ratings = sorted({row.get("rating") for row in labels if row.get("rating")})
    requests = {
        "topics": [t for t, _ in topics.most_common(options.topic_values)],
        "rating": ratings,
        "sentiment": ["positive", "negative"],
        "tags": [t for t, _ in tags.most_common(options.tag_values)],
    }
    return {k: v for k, v in requests.items() if v}


def _samples(generator: Any, labels: dict[str, Any] | None, options: EvalOptions) -> list[str]:
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


def _judged(row: Any, field_name: str, requested: str | None) -> str:
    if field_name == "topics":
        return row.topics[0] if row.topics else "(none)"
    if field_name == "tags":
        return requested if requested is not None and requested in row.tags else "(other)"
    return str(getattr(row, field_name))


def _synopsis_fidelity(generator, labels, label_texts, embed, options: EvalOptions) -> dict[str, Any]:
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
    return {
        "pairs": len(pairs),
        "mean_similarity": round(float(sims.mean()), 4),
        "mismatched_similarity": round(float(shuffled.mean()), 4),
    }


def _attribution(generator, heldout: HeldOut, requests: dict[str, list[str]], options: EvalOptions) -> dict:
    out = {}
    m = min(options.attribution_docs, len(heldout.ids))
    for field_name in ("topics", "rating"):
        values = requests.get(field_name, [])
        if len(values) < 2:
            continue
        docs = [i for i in range(m) if _true_value(heldout.labels[i], field_name) in values]
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
            **rank_agreement([scores[i] for i in docs], [_true_value(heldout.labels[i], field_name) for i in docs]),
            "candidates": len(values),
        }
    return out


def _true_value(row: dict[str, Any], field_name: str) -> str | None:
    value = row.get(field_name)
    return (value[0] if value else None) if isinstance(value, list) else value


def finite_json(value: Any) -> Any:
    """Replace inf/nan (not valid JSON) with None, recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def to_json(metrics: dict[str, Any]) -> str:
    return json.dumps(finite_json(metrics), indent=1)
