"""Does conditioning pay? The tokens the conditional model needs to reach the unconditional model's final
held-out loss, as a share of the unconditional model's tokens (MeCo's headline measure, Gao et al. 2025).

Both arms are evaluated at the same snapshots on the same held-out documents. The conditional arm's loss
curve (mean body loss per snapshot, linear between snapshots, from (0 tokens, no loss known)) is searched
for the first point at or below the target, the unconditional arm's mean header-free loss at its last
snapshot. Share < 1: the conditional arm got there with fewer tokens; not reached: no saving within this
budget (an honest result at small scale). Measured twice: the conditional arm read without a header (what
it does on unlabelled text, MeCo's setting) and with each document's own header. The interval is a
percentile bootstrap over held-out documents: each replicate resamples documents once and recomputes every
mean of both curves, so the crossing moves with the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

CONDITIONS = {"header_free": "conditional_no_header", "with_header": "conditional_true_header"}


def tokens_to_reach(tokens: np.ndarray, losses: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per row of ``losses`` (replicates x snapshots): the token count where the curve first reaches
    ``target`` (one per row), interpolated between snapshots; the first snapshot's tokens when it is already
    there (at most that many); ``inf`` when never."""
    reached = losses <= target[:, None]
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    out = np.full(len(losses), np.inf)
    rows = np.nonzero(first >= 0)[0]
    for row in rows:
        k = first[row]
        if k == 0:
            out[row] = tokens[0]
            continue
        before, after = losses[row, k - 1], losses[row, k]
        fraction = (before - target[row]) / (before - after) if before > after else 1.0
        out[row] = tokens[k - 1] + fraction * (tokens[k] - tokens[k - 1])
    return out


def data_efficiency(
    tokens: Sequence[int], per_doc: Sequence[dict[str, Sequence[float]]], reps: int, seed: int
) -> dict[str, Any]:
    """``tokens``: tokens trained at each snapshot (both arms alike); ``per_doc``: per snapshot, the per-document
    losses by condition (``conditional_no_header``, ``conditional_true_header``, ``unconditional``)."""
    steps = np.asarray(tokens, dtype=float)
    final = float(steps[-1])
    target_docs = np.asarray(per_doc[-1]["unconditional"], dtype=float)
    n = target_docs.size
    rng = np.random.default_rng(seed)
    draws = np.vstack([np.arange(n), rng.integers(0, n, size=(reps, n))])  # row 0: the documents as they are
    target = target_docs[draws].mean(axis=1)
    result: dict[str, Any] = {"target_loss": round(float(target[0]), 5), "final_tokens": int(final), "docs": n}
    for name, condition in CONDITIONS.items():
        curve_docs = np.asarray([point[condition] for point in per_doc], dtype=float)  # snapshots x docs
        curves = curve_docs[:, draws].mean(axis=2).T  # replicates x snapshots
        shares = tokens_to_reach(steps, curves, target) / final
        result[name] = _share_summary(shares[0], shares[1:], curves[0])
    return result


def _share_summary(point: float, boot: np.ndarray, curve: np.ndarray) -> dict[str, Any]:
    low, high = np.percentile(boot, [2.5, 97.5])  # inf where a replicate never reached the target
    return {
        "share": _finite(point),
        "ci_low": _finite(low),
        "ci_high": _finite(high),
        "reached": bool(np.isfinite(point)),
        "reached_in_replicates": round(float(np.isfinite(boot).mean()), 4),
        "loss_curve": [round(float(x), 5) for x in curve],
    }


def _finite(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None  # None: not reached within the budget


def efficiency_line(efficiency: dict[str, Any]) -> str:
    """One line: the share of tokens (with its interval) the conditional model needed, read without header."""
    parts = []
    for name, label in (("header_free", "without its header"), ("with_header", "with its header")):
        r = efficiency.get(name)
        if not r:
            continue
        if r["reached"]:
            high = f"{r['ci_high']:.0%}" if r["ci_high"] is not None else "not reached"
            parts.append(f"{label} {r['share']:.0%} of the tokens [95% CI {r['ci_low']:.0%}, {high}]")
        else:
            parts.append(f"{label} not within the budget (no saving at this scale)")
    return (
        f"data efficiency: to reach the unconditional model's final held-out loss "
        f"({efficiency['target_loss']:.4f} nats/token), the conditional model needed " + "; ".join(parts)
    )
