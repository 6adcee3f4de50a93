"""Data efficiency: the tokens the conditional arm needs to reach the unconditional arm's final loss."""

from __future__ import annotations

import numpy as np
import pytest

from condpt_dagster.evaluation.efficiency import data_efficiency, efficiency_line, tokens_to_reach

TOKENS = np.array([100.0, 200.0, 300.0, 400.0])


def test_the_crossing_is_interpolated_between_snapshots():
    curves = np.array([[5.0, 4.0, 3.0, 2.0], [3.0, 2.9, 2.8, 2.7], [5.0, 5.0, 5.0, 5.0]])
    reached = tokens_to_reach(TOKENS, curves, np.array([3.5, 3.5, 3.5]))
    assert reached[0] == pytest.approx(250.0)  # half way from 4.0 (200 tokens) to 3.0 (300 tokens)
    assert reached[1] == 100.0  # already there at the first snapshot: at most that many tokens
    assert np.isinf(reached[2])  # never


def per_doc(cond_means: list[float], uncond_final: float, docs: int = 60, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.2, size=docs)  # the same documents are harder or easier for both arms
    points = []
    for k, mean in enumerate(cond_means):
        points.append(
            {
                "conditional_no_header": list(mean + noise),
                "conditional_true_header": list(mean - 0.3 + noise),
                "unconditional": list(uncond_final + 0.5 * (len(cond_means) - 1 - k) + noise),
            }
        )
    return points


def test_a_faster_conditional_arm_needs_a_share_of_the_tokens_with_an_interval():
    result = data_efficiency(TOKENS, per_doc([5.0, 4.0, 3.0, 2.5], uncond_final=3.5), reps=300, seed=1)
    free = result["header_free"]
    assert free["reached"] and free["share"] == pytest.approx(0.625, abs=1e-3)  # 250 of 400 tokens
    assert free["ci_low"] <= free["share"] <= free["ci_high"] < 1
    assert result["with_header"]["share"] < free["share"]  # its own header helps it get there sooner
    assert result["target_loss"] == pytest.approx(3.5, abs=0.1) and result["docs"] == 60
    line = efficiency_line(result)
    assert "without its header 62% of the tokens [95% CI" in line


def test_a_conditional_arm_that_never_gets_there_is_reported_as_no_saving():
    result = data_efficiency(TOKENS, per_doc([5.0, 4.6, 4.3, 4.1], uncond_final=3.0), reps=200, seed=1)
    free = result["header_free"]
    assert not free["reached"] and free["share"] is None and free["reached_in_replicates"] == 0
    assert "without its header not within the budget (no saving at this scale)" in efficiency_line(result)
