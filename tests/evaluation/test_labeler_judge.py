"""The training labeler as one judge among others: the same Judge questions, answered from its label rows,
and the lift the steering experiment reports beside the independent judges."""

from __future__ import annotations

from types import SimpleNamespace

from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation.judges import Judge, Judges, LabelerJudge
from condpt_dagster.evaluation.steering import judged_lift


def fake_labeler(calls: list[int]):
    """Labels a text by its words: 'sport' -> topic sports, 'happy' -> positive, every word a tag."""

    def label(texts: list[str]) -> list[SimpleNamespace]:
        calls.append(len(texts))
        return [
            SimpleNamespace(
                topics=["sports"] if "sport" in t else [],
                sentiment="positive" if "happy" in t else "negative",
                tags=t.split(),
            )
            for t in texts
        ]

    return label


def test_labeler_judge_reads_first_topic_requested_tag_and_plain_fields():
    calls: list[int] = []
    judge = LabelerJudge(fake_labeler(calls))
    texts = ["sport happy", "rain"]
    assert judge.verdicts("topics", texts) == ["sports", "(none)"]
    assert judge.verdicts("tags", texts, "rain") == ["(other)", "rain"]
    assert judge.verdicts("sentiment", texts) == ["positive", "negative"]
    assert judge.hits("sentiment", texts, ["positive", "negative"]) == {
        "positive": [True, False],
        "negative": [False, True],
    }
    assert calls == [2, 2, 2, 2]  # hits labels the texts once for every value


def test_both_kinds_of_judge_answer_the_same_protocol_and_give_a_lift():
    assert isinstance(Judges.name, str) and all(hasattr(Judges, m) for m in ("verdicts", "hits"))
    judge: Judge = LabelerJudge(fake_labeler([]))
    generated = {"sports": ["sport a", "sport b", "sport c", "x"], "(none)": ["y", "z", "w", "v"]}
    baseline = ["q", "r", "sport s", "t"]
    result, judged = judged_lift(judge, "topics", generated, baseline, ExperimentSettings(bootstrap_reps=200))
    assert judged["sports"] == ["sports", "sports", "sports", "(none)"]
    sports = next(row for row in result["values"] if row["value"] == "sports")
    assert sports["adherence"] == 0.75 and sports["baseline_rate"] == 0.25
    assert sports["lift"] == round((0.75 + 0.125) / (0.25 + 0.125), 4)  # the floor: half a baseline sample
