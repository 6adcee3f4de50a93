"""Evaluation metrics on known inputs, the loss measurement on a model that ignores headers, and the
eval_report asset on a tiny trained model."""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import dagster as dg
import polars as pl
import pytest
import torch
from factories import trained_topic_lake

from condpt_dagster.assets.eval_report import build_eval_report
from condpt_dagster.core.settings import EvalSettings
from condpt_dagster.evaluation.run import (
    _field_lift,
    _synopsis_verdict,
    adherence,
    body_nll,
    conditioning_gain,
    derangement,
    distinct_n,
    rank_agreement,
)
from condpt_dagster.evaluation.verdict import NO_EVIDENCE, REVERSED, STEERED, headline, verdict_lines
from harness.browser import bottom_of, headless_chrome, require_chromium


def test_obeying_generator_has_full_adherence_and_inverse_base_rate_lift():
    values = ["a", "b", "c"]
    requested = [v for v in values for _ in range(10)]
    unconditional = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    result = adherence(requested, requested, unconditional)
    rows = {r["value"]: r for r in result["values"]}
    assert all(r["recall"] == 1 and r["precision"] == 1 for r in rows.values())
    assert rows["a"]["lift"] == pytest.approx(1 / 0.5) and rows["c"]["lift"] == pytest.approx(1 / 0.2)
    assert result["confusion"]["counts"] == [[10, 0, 0], [0, 10, 0], [0, 0, 10]]


def test_generator_ignoring_the_header_has_lift_near_one():
    import random

    rng = random.Random(0)
    pool = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    requested = [v for v in "abc" for _ in range(6000)]
    judged = [rng.choice(pool) for _ in requested]
    result = adherence(requested, judged, [rng.choice(pool) for _ in range(20000)])
    assert all(abs(r["lift"] - 1) < 0.1 for r in result["values"])
    assert abs(result["mean_lift"] - 1) < 0.1


def test_gain_interval_and_small_metrics():
    gain = conditioning_gain([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5])
    assert gain["gain"] == pytest.approx(0.5) and gain["ci_low"] == pytest.approx(0.5)
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b a b"], 2) == pytest.approx(2 / 3, abs=1e-3)
    assert rank_agreement([{"x": -1, "y": -5, "z": -3}, {"x": -9, "y": -1, "z": -2}], ["x", "z"]) == {
        "top1": 0.5,
        "top3": 1.0,
        "docs": 2,
    }
    perm = derangement(7, seed=3)
    assert sorted(perm) == list(range(7)) and all(i != j for i, j in enumerate(perm))


def test_each_field_gets_a_lift_interval_and_a_verdict():
    """Issue 32, point 5: 4 samples per value gave bare lifts; now every field has an interval and a verdict."""
    options = EvalSettings(bootstrap_reps=500)
    no_header = [SimpleNamespace(topics=[t], tags=[]) for t in ["a", "b", "c", "d"] * 10]  # a and b: 25% each
    requested = ["a"] * 30 + ["b"] * 30
    obeying = _field_lift("topics", ["a", "b"], requested, requested, no_header, options)
    assert obeying["verdict"] == STEERED and obeying["ci_low"] > 2, obeying
    ignoring = _field_lift("topics", ["a", "b"], requested, ["a", "b", "c", "d"] * 15, no_header, options)
    assert ignoring["verdict"] == NO_EVIDENCE and ignoring["ci_low"] < 1 < ignoring["ci_high"], ignoring
    contrary = _field_lift("topics", ["a", "b"], requested, ["c"] * 60, no_header, options)
    assert contrary["verdict"] == REVERSED, contrary
    tags_rows = [SimpleNamespace(topics=[], tags=["x"] if i % 10 == 0 else []) for i in range(40)]
    tags = _field_lift("tags", ["x"], ["x"] * 20, ["x"] * 20, tags_rows, options)
    assert tags["values"][0]["baseline_rate"] == 0.1 and tags["verdict"] == STEERED


def test_a_synopsis_below_the_mismatched_baseline_is_flagged():
    """The demo's eval showed synopsis fidelity 0.165 under the mismatched 0.175 with no word about it."""
    below = _synopsis_verdict(
        dict(mean_similarity=0.165, mismatched_similarity=0.175, difference=-0.01, ci_low=-0.04, ci_high=0.02, pairs=16)
    )
    assert below["verdict"] == NO_EVIDENCE and "below the mismatched baseline" in below["flag"]
    [line] = verdict_lines({"synopsis": below})
    assert line.startswith("synopsis: similarity 0.165 vs 0.175") and "below the mismatched baseline" in line
    above = _synopsis_verdict(
        dict(mean_similarity=0.6, mismatched_similarity=0.2, difference=0.4, ci_low=0.3, ci_high=0.5, pairs=16)
    )
    assert above["verdict"] == STEERED and "flag" not in above
    assert headline({"synopsis": above, "topics": {"verdict": NO_EVIDENCE}}) == "1 of 2 fields steer: synopsis"


class BigramLM(torch.nn.Module):
    """Predicts each token from the previous one only: it cannot see a header before <|body|>."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(vocab, vocab)

    def forward(self, input_ids, attention_mask=None):
        return type("Out", (), {"logits": self.table(input_ids)})()


def test_shuffled_headers_give_zero_gain_on_a_model_that_ignores_headers():
    model, body_id, pad = BigramLM(50), 3, 0
    headers = [[10, 11, body_id], [12, 13, 14, body_id], [15, body_id]]
    bodies = [[20, 21, 22], [23, 24], [25, 26, 27, 28]]
    true = body_nll(model, headers, bodies, pad)
    none = body_nll(model, [[body_id]] * 3, bodies, pad)
    shuffled = body_nll(model, [headers[j] for j in derangement(3, 0)], bodies, pad)
    per_doc = [[s / c for s, c in run] for run in (true, none, shuffled)]
    assert [c for _, c in true] == [3, 2, 4]  # only body tokens are scored
    assert conditioning_gain(per_doc[0], per_doc[1])["gain"] == pytest.approx(0, abs=1e-5)
    assert conditioning_gain(per_doc[0], per_doc[2])["gain"] == pytest.approx(0, abs=1e-5)
    assert all(math.isfinite(x) for x in per_doc[0])


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory):
    return trained_topic_lake(tmp_path_factory.mktemp("eval") / "data")


@pytest.fixture(scope="module")
def eval_report(trained_lake):
    lake, resources = trained_lake
    options = EvalSettings(
        max_docs=20, samples_per_value=2, max_new_tokens=12, attribution_docs=10, synopses=1, bootstrap_reps=200
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([build_eval_report("ev", options)], instance=instance, resources=resources)
        assert result.success
        meta = result.asset_materializations_for_node("eval_report")[0].metadata
        [check] = result.get_asset_check_evaluations()
    return lake, meta, check


def test_eval_report_leads_with_its_verdict_in_the_first_1000_pixels(eval_report):
    """Issue 32, point 5, in a browser: the headline and the lift plot are on the first screen."""
    require_chromium()
    lake, _, _ = eval_report
    with headless_chrome(1400, 1000) as chrome:
        chrome.get((lake.eval_dir / "ev" / "report.html").as_uri())
        headline_text = chrome.find_element("css selector", "h2#headline").text
        assert re.fullmatch(r"\d of \d fields steer(: .+)?", headline_text)
        plot = chrome.find_element("css selector", "img[src='lifts.png']")
        assert chrome.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot) > 0
        assert bottom_of(chrome, "img[src='lifts.png']") <= 1000


def test_eval_report_writes_every_file(eval_report):
    lake, meta, check = eval_report
    out = lake.eval_dir / "ev"
    for name in (
        "report.md",
        "report.html",
        "metrics.json",
        "loss_by_condition.png",
        "adherence.png",
        "confusion_topics.png",
    ):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"headline", "losses", "gains", "breakdown", "control", "diversity", "attribution"} <= set(metrics)
    assert set(metrics["losses"]) == {"true_header", "no_header", "shuffled"}
    assert {"topics", "rating", "sentiment", "synopsis_fidelity"} <= set(metrics["control"])
    assert metrics["attribution"]["topics"]["candidates"] == 2
    assert check.check_name == "conditioning_helps" and check.severity == dg.AssetCheckSeverity.WARN
    assert meta["heldout_documents"].value > 0
    # Issue 32, point 5: the verdict leads — the asset's first metadata entry, the report's first lines
    assert next(iter(meta)) == "headline" and re.fullmatch(r"\d of \d fields steer(: .+)?", meta["headline"].value)
    assert meta["headline"].value == metrics["verdict"] == headline(metrics["fields"])
    assert set(metrics["fields"]) == {"topics", "rating", "format", "sentiment", "tags", "synopsis"}
    for name, field_result in metrics["fields"].items():
        assert field_result["ci_low"] <= field_result["ci_high"], name
        assert field_result["verdict"] in (STEERED, NO_EVIDENCE, REVERSED), name
    report = (out / "report.md").read_text()
    lead = report[: report.index("## ")]  # everything above the first table
    assert f"**{metrics['verdict']}**" in lead and "![lifts.png](lifts.png)" in lead
    assert all(line in lead for line in verdict_lines(metrics["fields"]))
    assert (out / "lifts.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Conditioning gain" in report
    assert pl.read_parquet(lake.blocks("a").heldout).height > 0
