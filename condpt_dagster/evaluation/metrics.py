"""Pure evaluation metrics: bootstrap intervals, conditioning gain, adherence and lift, diversity, ranking."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def bootstrap_ci(values: Sequence[float], reps: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile bootstrap interval (``scipy.stats.bootstrap``)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(arr.mean())
    if arr.size == 1 or np.ptp(arr) == 0:  # every resample has the same mean: the interval is that point
        return mean, mean, mean
    from scipy.stats import bootstrap  # scipy loads when a report is made, not with the code location

    interval = bootstrap(
        (arr,), np.mean, n_resamples=reps, method="percentile", rng=np.random.default_rng(seed)
    ).confidence_interval
    return mean, float(interval.low), float(interval.high)


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
    finite = [r["lift"] for r in rows if r["lift"] is not None]
    return {
        "values": rows,
        "confusion": confusion_matrix(requested, judged),
        "mean_recall": round(float(np.mean([r["recall"] for r in rows])), 4) if rows else 0.0,
        "mean_lift": round(float(np.mean(finite)), 4) if finite else float("nan"),
    }


def confusion_matrix(requested: Sequence[str], judged: Sequence[str]) -> dict[str, Any]:
    """Counts of (requested value, judged value) pairs; rows and columns sorted."""
    rows = sorted(set(requested))
    cols = sorted(set(judged) | set(rows))
    pairs = Counter(zip(requested, judged, strict=True))
    return {"requested": rows, "judged": cols, "counts": [[pairs[(a, b)] for b in cols] for a in rows]}


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


def lift_floor(baseline_samples: int) -> float:
    """Half a baseline sample: added to both rates of a lift, so a value never seen without asking gives a
    finite lift and a value seen neither way gives exactly 1 (not 0, not infinity)."""
    return 0.5 / max(1, baseline_samples)


def lift_with_ci(
    requested_hits: dict[str, Sequence[bool]],
    baseline_hits: dict[str, Sequence[bool]],
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Lift of a field and of each requested value, with percentile bootstrap 95% intervals.

    ``requested_hits[v]``: for each sample generated when asking for ``v``, whether the judge found ``v``;
    ``baseline_hits[v]``: the same for the samples of the unconditional baseline. adherence_v and base_v are
    their means; lift_v = (adherence_v + e) / (base_v + e) with e = :func:`lift_floor` of the baseline's size.
    The field's lift is mean adherence over mean base rate (the chance of getting the asked value with vs
    without asking), each plus its mean e. Samples are resampled within each group.
    """
    # By hand, not scipy.stats.bootstrap: one set of within-group replicates feeds every value's lift, the
    # field's lift (a mean over values) and the adherence interval, so they are intervals of the same draws;
    # scipy draws anew for each statistic it is given.
    rng = np.random.default_rng(seed)
    values = list(requested_hits)
    hits = {v: np.asarray(requested_hits[v], dtype=float) for v in values}
    base = {v: np.asarray(baseline_hits[v], dtype=float) for v in values}
    floor = {v: lift_floor(base[v].size) for v in values}

    def boot(arr: np.ndarray) -> np.ndarray:  # bootstrap means, one per replicate
        return arr[rng.integers(0, arr.size, size=(reps, arr.size))].mean(axis=1)

    boot_adh, boot_base = {v: boot(hits[v]) for v in values}, {v: boot(base[v]) for v in values}
    rows = [
        {
            "value": v,
            "samples": int(hits[v].size),
            **_lift_summary(hits[v].mean(), base[v].mean(), floor[v], boot_adh[v], boot_base[v]),
        }
        for v in values
    ]
    mean = lambda by_value: np.mean([by_value[v] for v in values], axis=0)  # noqa: E731
    field = _lift_summary(
        mean({v: hits[v].mean() for v in values}),
        mean({v: base[v].mean() for v in values}),
        mean(floor),
        mean(boot_adh),
        mean(boot_base),
    )
    return {**field, "values": rows}


def _lift_summary(adherence: float, base: float, floor: float, boot_adh: np.ndarray, boot_base: np.ndarray) -> dict:
    lifts = (boot_adh + floor) / (boot_base + floor)
    return {
        "lift": round(float((adherence + floor) / (base + floor)), 4),
        "ci_low": round(float(np.percentile(lifts, 2.5)), 4),
        "ci_high": round(float(np.percentile(lifts, 97.5)), 4),
        "adherence": round(float(adherence), 4),
        "adherence_ci": [round(float(np.percentile(boot_adh, q)), 4) for q in (2.5, 97.5)],
        "baseline_rate": round(float(base), 4),
        "max_lift": round(float((1 + floor) / (base + floor)), 4),  # a value the baseline often produces caps lift
    }
