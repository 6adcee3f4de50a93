"""Verdicts in words, shared by the eval report and the steering experiment.

A field *steers* when the whole 95% interval of its effect lies beyond "no effect" (a lift of 1, a
similarity difference of 0); an interval that includes it is no evidence either way.
"""

from __future__ import annotations

from typing import Any

STEERED, NO_EVIDENCE, REVERSED = "steers", "no evidence of steering", "steers away"


def verdict(result: dict[str, Any], no_effect: float = 1.0) -> str:
    """The verdict of an effect with ``ci_low``/``ci_high``: lifts compare with 1, differences with 0."""
    if result["ci_low"] > no_effect:
        return STEERED
    return REVERSED if result["ci_high"] < no_effect else NO_EVIDENCE


def headline(fields: dict[str, dict[str, Any]]) -> str:
    """``2 of 5 fields steer: format, topics`` — a report's first line and its asset's first metadata entry.

    Fields marked ``steerable: False`` (nothing could be asked of them) count in the total, never as steering.
    """
    steering = [name for name, r in fields.items() if r.get("steerable", True) and r.get("verdict") == STEERED]
    return f"{len(steering)} of {len(fields)} fields steer" + (f": {', '.join(steering)}" if steering else "")


def verdict_lines(fields: dict[str, dict[str, Any]]) -> list[str]:
    """One line per field: its effect with the interval, and the verdict in words."""
    lines = []
    for name, r in fields.items():
        if "lift" in r:
            effect = (
                f"lift {r['lift']:.2f} [95% CI {r['ci_low']:.2f}, {r['ci_high']:.2f}], "
                f"adherence {r['adherence']:.2f} vs {r['baseline_rate']:.2f} with no header"
            )
        else:  # synopsis: a similarity difference, not a lift
            effect = (
                f"similarity {r['similarity']:.3f} vs {r['mismatched_similarity']:.3f} for a mismatched synopsis, "
                f"difference {r['difference']:+.3f} [95% CI {r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            )
        note = " (the interval includes no effect)" if r["verdict"] == NO_EVIDENCE else ""
        lines.append(f"{name}: {effect}: {r['verdict']}{note}" + (f"; {r['flag']}" if r.get("flag") else ""))
    return lines
