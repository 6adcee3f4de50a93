"""The experiment summary record: what the report writes reads back equal, an older summary loads with
defaults, and a file that is not a summary is refused naming the file."""

from __future__ import annotations

import json

import pytest

from condpt_dagster.evaluation.summary import ExperimentSummary

OLDER = {  # a summary written before arms_trained_earlier, runs and options existed
    "name": "demo", "fields": {"topics": {"lift": 2.0, "ci_low": 1.2, "ci_high": 3.1, "steerable": True}},
    "gain_vs_no_header": {"gain": 0.1, "ci_low": 0.0, "ci_high": 0.2}, "gain_vs_shuffled": {"gain": 0.1},
    "loss_cost_vs_unconditional": {"cost": 0.01}, "loss": {"conditional": 3.0}, "judge": {"topics": {"judge": "bow"}},
    "tokens_trained": 1000, "steps": 10, "device": "cpu", "model": {"preset": "tiny", "parameters": 10},
}  # fmt: skip


def test_an_older_summary_loads_with_defaults(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(OLDER), encoding="utf-8")
    summary = ExperimentSummary.load(path)
    assert summary.arms_trained_earlier == [] and summary.curve == [] and summary.steerable() == OLDER["fields"]


def test_saved_summary_reads_back_equal_with_nan_as_null(tmp_path):
    summary = ExperimentSummary(**{**OLDER, "loss": {"conditional": float("nan")}})
    path = tmp_path / "summary.json"
    summary.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["loss"] == {"conditional": None}  # strict JSON
    assert ExperimentSummary.load(path) == ExperimentSummary(**{**OLDER, "loss": {"conditional": None}})


@pytest.mark.parametrize("content", ["{}", json.dumps({**OLDER, "steps": "ten"}), "not json"])
def test_a_file_that_is_not_a_summary_is_refused(tmp_path, content):
    path = tmp_path / "summary.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="not a steering experiment summary") as exc:
        ExperimentSummary.load(path)
    assert str(path) in str(exc.value)
