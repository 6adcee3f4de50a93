"""The steering experiment: lift statistics, request planning, independent judges, refusing unseen values, and
the steering_experiment asset end to end on a corpus whose topic a tiny model learns in a few steps."""

from __future__ import annotations

import json
import random

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import WORDS, label_row, make_lake, write_clean, write_labels

from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.steering_experiment import build_steering_experiment
from condpt_dagster.cli import main
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.settings import BlocksSettings, ExperimentSettings, SettingsError, TrainingSettings
from condpt_dagster.evaluation.diagnostics import corpus_reference
from condpt_dagster.evaluation.judges import BagOfWordsJudge, Judges, SentimentJudge, TagJudge
from condpt_dagster.evaluation.metrics import lift_with_ci
from condpt_dagster.evaluation.requests import Requests, plan_requests
from condpt_dagster.evaluation.steering import verdict_lines
from condpt_dagster.evaluation.summary import ExperimentSummary
from condpt_dagster.evaluation.verdict import NO_EVIDENCE, STEERED, verdict
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.training.generate import UnseenValueError, check_seen
from harness.browser import bottom_of, headless_chrome, require_chromium


def test_lift_of_an_obedient_model_is_the_inverse_base_rate_with_an_interval_above_one():
    result = lift_with_ci({"a": [True] * 40, "b": [True] * 40}, {"a": [True] * 30 + [False] * 90, "b": [False] * 120})
    rows = {r["value"]: r for r in result["values"]}
    assert rows["a"]["adherence"] == 1 and rows["a"]["baseline_rate"] == 0.25
    floor = 0.5 / 120
    assert rows["a"]["lift"] == pytest.approx((1 + floor) / (0.25 + floor), rel=1e-3)
    assert rows["a"]["max_lift"] == pytest.approx(
        (1 + floor) / (0.25 + floor), rel=1e-3
    )  # the ceiling a frequent value puts on lift
    assert result["ci_low"] > 1.5 and verdict(result) == STEERED


def test_lift_of_a_model_that_ignores_the_request_has_an_interval_around_one():
    share = lambda n: [i % 5 < 2 for i in range(n)]  # noqa: E731  (40% either way)
    result = lift_with_ci({"a": share(64), "b": share(64)}, {"a": share(128), "b": share(128)})
    assert result["ci_low"] < 1 < result["ci_high"] and verdict(result) == NO_EVIDENCE
    never = lift_with_ci({"a": [False] * 32}, {"a": [False] * 128})  # a value seen neither way: no claim
    assert never["lift"] == 1 and never["ci_low"] == never["ci_high"] == 1 and verdict(never) == NO_EVIDENCE


def test_requests_take_frequent_values_and_name_fields_that_cannot_be_steered():
    seen = {
        "topics": {"sports": 50, "politics": 40, "art": 30, "rare": 2},
        "rating": {"G": 80, "PG": 12, "R": 3},
        "sentiment": {"positive": 9},
        "format": {"news": 100},
    }
    options = ExperimentSettings(values_per_field=2, min_value_docs=10)
    requests = plan_requests(seen, ["rating", "format", "topics", "sentiment"], options)
    assert requests.values == {"topics": ["sports", "politics"], "rating": ["G", "PG"]}
    assert "no sentiment value has 10+" in requests.not_steerable["sentiment"]
    assert "every training document has format news" in requests.not_steerable["format"]
    assert "carry no tags labels" in requests.not_steerable["tags"]


def test_experiment_settings_refuse_what_the_experiment_sets_itself():
    with pytest.raises(SettingsError, match=r"training\.run is set by the experiment"):
        ExperimentSettings(training={"run": "x"})
    with pytest.raises(SettingsError, match="max_stepz: unknown setting"):
        ExperimentSettings(training={"max_stepz": 3})
    with pytest.raises(SettingsError, match="samples_per_value"):
        ExperimentSettings(samples_per_value=8)
    arm = ExperimentSettings(name="e", curve_points=4, training={"max_steps": 100}).train_config(
        TrainingSettings(), "unconditional", 64
    )
    assert (arm.run, arm.drop_headers, arm.snapshot_every, arm.max_steps) == ("e-unconditional", True, 25, 100)


def test_independent_judges():
    assert SentimentJudge().judge(["a wonderful, great film", "dull and awful", "the senate met"]) == [
        "positive",
        "negative",
        "neutral",
    ]
    assert TagJudge().judge("film", ["Two films tonight", "a movie"]) == ["film", "(absent)"]
    rng = random.Random(0)
    docs = [(" ".join(rng.choice(WORDS[t].split()) for _ in range(30)), t) for t in ("sports", "politics") * 30]
    judge = BagOfWordsJudge.fit("topics", docs[:40], docs[40:])
    assert judge.agreement == 1.0 and judge.judge(["the senate vote on the bill", "coach and player"]) == [
        "politics",
        "sports",
    ]
    with pytest.raises(ValueError, match="at least two values"):
        BagOfWordsJudge.fit("topics", [("a b", "x"), ("c d", "x")])


def test_corpus_reference_is_the_judges_agreement_with_the_labels_of_real_documents():
    """A judge that reads the labelled values back gets a reference lift near 1/base rate; labels the texts do
    not express (sentiment here, independent of the words) get a reference interval around 1: that field
    cannot be judged by this judge, whatever the model does."""
    rng = random.Random(1)
    topics, sentiments = ["sports", "politics"] * 40, ["positive"] * 40 + ["negative"] * 40
    labels = [
        {"topics": [t], "sentiment": s, "tags": ["senate"] if t == "politics" else []}
        for t, s in zip(topics, sentiments, strict=True)
    ]
    texts = [" ".join(rng.choice(WORDS[row["topics"][0]].split()) for _ in range(12)) for row in labels]
    docs = [(t, row["topics"][0]) for t, row in zip(texts, labels, strict=True)]
    judges = Judges(closed={"topics": BagOfWordsJudge.fit("topics", docs[:60], docs[60:])})
    requests = Requests({"topics": ["sports", "politics"], "sentiment": ["positive", "negative"],
                         "tags": ["senate"]}, {})  # fmt: skip
    options = ExperimentSettings(bootstrap_reps=300)
    reference = corpus_reference(texts, labels, requests, judges, options)
    assert reference["topics"]["lift"] > 1.8 and reference["topics"]["ci_low"] > 1.5, reference["topics"]
    assert {r["value"]: r["documents"] for r in reference["topics"]["values"]} == {"sports": 40, "politics": 40}
    sentiment = reference["sentiment"]
    assert sentiment["ci_low"] < 1 < sentiment["ci_high"], sentiment
    tags = reference["tags"]["values"][0]
    assert tags["documents"] == 40 and tags["baseline_rate"] <= 0.5
    topics = {**reference["topics"], "verdict": STEERED, "reference": reference["topics"]}
    summary = _summary(fields={"topics": topics}, judge={"topics": {"judge": "bow"}})
    assert "corpus reference" in verdict_lines(summary)[0]


def test_unseen_values_are_refused_with_the_known_ones():
    seen = {"topics": {"sports": 5, "politics": 4}, "tags": {"goal": 3}}
    check_seen({"topics": ["sports"], "tags": ["anything"]}, seen)  # tags are open vocabulary
    with pytest.raises(UnseenValueError, match="topics quantum-knitting \\(known: politics, sports\\)"):
        check_seen({"topics": ["quantum-knitting"]}, seen)


@pytest.fixture(scope="module")
def experiment_lake(tmp_path_factory):
    """Two topics with disjoint vocabularies; labels, raw documents and a held-out split for every shard."""
    lake = make_lake(tmp_path_factory.mktemp("steer") / "data", n_docs=400, words_per_doc=6)
    tok = ConditionTokenizer(lake.tokenizer_dir)
    for name in ("a", "b"):
        pack_shard(lake.conditioned(name), tok, lake.blocks(name), BlocksSettings(block_size=64, heldout_fraction=0.1))
        table = pq.read_table(lake.conditioned(name)).to_pylist()
        ids = [r["id"] for r in table]
        write_clean(lake, name, ids, [r["text"] for r in table])
        topics = ["sports" if int(i[1:]) % 2 else "politics" for i in ids]
        write_labels(lake.labels(name), [label_row(i, topics=[t]) for i, t in zip(ids, topics, strict=True)])
    return lake


def test_steering_experiment_asset_finds_topic_steering_and_reports_missing_fields(experiment_lake):
    lake = experiment_lake
    options = ExperimentSettings(
        name="t",
        curve_points=2,
        baseline_samples=64,
        max_new_tokens=12,
        heldout_docs=20,
        bootstrap_reps=300,
        min_value_docs=5,
        guidance=2.0,
        cooldown_fraction=0.25,
        training={"max_steps": 80, "micro_batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 5},
    )
    asset = build_steering_experiment(
        TrainingSettings(checkpoint_every=80), HeaderFormat("laion", ["rating", "topics"]), options
    )
    resources = {"lake": DataLakeResource(root=str(lake.root)), "labeler": LabelerResource()}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        result = dg.materialize([asset], instance=instance, resources=resources)
        assert result.success
        meta = result.asset_materializations_for_node("steering_experiment")[0].metadata
    files = lake.experiment("t")
    summary = ExperimentSummary.load(files.summary)
    assert summary.to_json() == files.summary.read_text()  # the typed record is the whole file
    topics = summary.fields["topics"]
    assert topics["verdict"] == STEERED and topics["ci_low"] > 1.2, topics
    assert topics["confusion"]["requested"] == ["politics", "sports"] or topics["confusion"]["requested"] == [
        "sports",
        "politics",
    ]
    assert "labeler" in topics  # the training labeler's verdict beside the judge's
    assert summary.fields["sentiment"] == {
        "steerable": False,
        "reason": "the blocks carry no sentiment labels (conditioning fields: rating, topics)",
    }
    assert summary.gain_vs_shuffled["ci_low"] > 0
    assert {"cost", "ci_low", "ci_high"} <= set(summary.loss_cost_vs_unconditional)
    assert [p["step"] for p in summary.curve] == [40, 80] and summary.tokens_trained == 80 * 8 * 64
    assert summary.judge["topics"]["agreement_with_labels"] > 0.9
    assert topics["reference"]["ci_low"] > 1.2, topics["reference"]  # the judge tells the corpus's topics apart
    assert topics["flip_cost"]["ci_low"] > 0, topics["flip_cost"]  # the other topic's header reads worse
    assert topics["flip_cost_given_others"]["docs"] == topics["flip_cost"]["docs"] > 0
    for path in (files.html, files.markdown, files.heatmap("topics"), files.curve_plot, files.samples):
        assert path.stat().st_size > 0, path
    # every generation kept, judged: re-judging the rows gives the summary's figures back
    rows = pl.read_parquet(files.generations)
    unguided = pl.col("guidance") == 1.0
    asked = rows.filter(
        (pl.col("arm") == "conditional") & (pl.col("field") == "topics") & (pl.col("step") == 80) & unguided
    )
    assert asked.height == len(topics["values"]) * options.samples_per_value
    per_value = asked.group_by("requested").agg((pl.col("judge") == pl.col("requested")).mean().alias("adherence"))
    mean_adherence = per_value["adherence"].mean()
    assert mean_adherence == pytest.approx(topics["adherence"], abs=1e-3)
    assert asked["labeler"].null_count() == 0
    assert all(r in h for r, h in zip(asked["requested"], asked["header"], strict=True))
    early = rows.filter((pl.col("step") == 40) & (pl.col("arm") == "conditional"))
    assert early.height > 0 and early["labeler"].null_count() == early.height  # the labeler judges the end only
    baseline = rows.filter((pl.col("arm") == "unconditional") & (pl.col("field") == "topics") & (pl.col("step") == 80))
    assert baseline.height == options.baseline_samples and set(baseline["header"]) == {""}
    first = topics["values"][0]
    assert (baseline["judge"] == first["value"]).mean() == pytest.approx(first["baseline_rate"], abs=1e-3)
    # classifier-free guidance: the final requests generated again, guided, judged and kept
    guided = topics["guided"]
    assert guided["guidance"] == 2.0
    assert guided["lift_change"] == pytest.approx(guided["lift"] - topics["lift"], abs=1e-3)
    guided_rows = rows.filter((pl.col("guidance") == 2.0) & (pl.col("field") == "topics"))
    assert guided_rows.height == asked.height and set(guided_rows["step"]) == {80}
    guided_adherence = guided_rows.group_by("requested").agg((pl.col("judge") == pl.col("requested")).mean())
    assert guided_adherence["judge"].mean() == pytest.approx(guided["adherence"], abs=1e-3)
    assert "adherence_topics" in meta and "verdict" in meta
    assert next(iter(meta)) == "headline" and meta["headline"].value.endswith("steer: topics")
    manifest = json.loads(lake.checkpoint("t-unconditional").manifest.read_text())
    assert manifest["config"]["drop_headers"] is True
    lines = verdict_lines(summary)
    assert [line.split()[0] for line in lines] == ["rating", "format", "topics", "sentiment", "tags"]
    assert lines[2].startswith("topics    lift") and "steers" in lines[2] and " alone, " in lines[2]
    assert "; with guidance 2: lift " in lines[2]
    efficiency = summary.data_efficiency  # does conditioning pay: tokens to reach the baseline's final loss
    assert efficiency["final_tokens"] == summary.tokens_trained and efficiency["docs"] == 20
    assert len(efficiency["header_free"]["loss_curve"]) == 2
    assert efficiency["header_free"]["reached"] == (efficiency["header_free"]["share"] is not None)
    # the third arm, with MeCo's cooldown (its last 20 steps without headers), judged like the others
    cooldown = summary.cooldown
    assert cooldown["run"] == "t-cooldown" and cooldown["cooldown_fraction"] == 0.25
    assert set(cooldown["fields"]) == set(summary.steerable()) and "verdict" in cooldown["fields"]["topics"]
    assert set(cooldown["loss"]) == {"true_header", "no_header"} and cooldown["data_efficiency"]["docs"] == 20
    cooldown_manifest = json.loads(lake.checkpoint("t-cooldown").manifest.read_text())
    assert cooldown_manifest["config"]["cooldown_fraction"] == 0.25 and not cooldown_manifest["config"]["drop_headers"]
    cooldown_rows = rows.filter(pl.col("arm") == "cooldown")
    requested = sum(len(r["values"]) for r in summary.steerable().values()) * options.samples_per_value
    assert cooldown_rows.height == requested and set(cooldown_rows["step"]) == {80}
    final_baseline = rows.filter((pl.col("arm") == "unconditional") & (pl.col("step") == 80))
    assert final_baseline.height == options.baseline_samples * len(summary.steerable())  # reused, not duplicated
    shown = CliRunner().invoke(main, ["experiment", "show", "--name", "t", "--data", str(lake.root)])
    assert "data efficiency: " in shown.output and "cooldown arm (last 25% of steps without headers)" in shown.output
    assert "every training document has rating G" in lines[0]

    hf = lake.checkpoint("t-conditional").hf_dir
    refused = CliRunner().invoke(main, ["generate", "--checkpoint", str(hf), "--topics", "quantum-knitting"])
    assert refused.exit_code != 0 and "known: politics, sports" in refused.output
    allowed = CliRunner().invoke(
        main,
        [
            "generate",
            "--checkpoint",
            str(hf),
            "--topics",
            "quantum-knitting",
            "--allow-unseen",
            "--max-new-tokens",
            "4",
        ],
    )
    assert allowed.exit_code == 0, allowed.output


def test_tags_are_requested_only_when_the_keyword_judge_can_see_them():
    """Issue 32, point 6: mood words the labeler adds but no text writes (`suspenseful`) cannot show a lift
    under a keyword judge; the frequent tags the judge finds in their own documents are requested instead."""
    from condpt_dagster.evaluation.diagnostics import visible_tags
    from condpt_dagster.evaluation.judges import Judges
    from condpt_dagster.evaluation.requests import Requests

    texts = ["The council passed the budget.", "A budget vote today.", "He ran into the night.", "Rain again."]
    labels = [
        {"tags": ["suspenseful", "budget"]},
        {"tags": ["suspenseful", "budget"]},
        {"tags": ["suspenseful", "night"]},
        {"tags": ["rain"]},
    ]
    requests = Requests({"tags": ["suspenseful", "budget", "night", "rain"], "rating": ["G"]}, {})
    kept, hidden = visible_tags(requests, texts, labels, Judges(), limit=2)
    assert kept.values == {"rating": ["G"], "tags": ["budget", "night"]} and hidden == ["suspenseful"]
    only_moods = Requests({"tags": ["suspenseful"]}, {})
    kept, hidden = visible_tags(only_moods, texts, labels, Judges(), limit=2)
    assert "tags" not in kept.values and "finds none of the frequent tags" in kept.not_steerable["tags"]


def _summary(**fields):
    """A summary with plausible run figures and the given fields."""
    run = {"name": "t", "fields": {}, "gain_vs_no_header": {}, "gain_vs_shuffled": {}, "loss_cost_vs_unconditional": {},
           "loss": {"conditional": 3.1}, "judge": {}, "tokens_trained": 1000, "steps": 10, "device": "cpu",
           "model": {"preset": "tiny", "parameters": 1_840_000}, "samples_per_value": 4, "baseline_samples": 8,
           "minutes": {"total": 1.0}}  # fmt: skip
    return ExperimentSummary(**{**run, **fields})


def _written_report(folder):
    """A steering report of a summary where format and topics steer, tags do not, sentiment cannot."""
    from condpt_dagster.core.lake import ExperimentFiles
    from condpt_dagster.evaluation.experiment_report import write_experiment
    from condpt_dagster.evaluation.steering import ExperimentResult

    def judged(lift, low, high, verdict):
        confusion = {"requested": ["a", "b"], "judged": ["a", "b"], "counts": [[3, 1], [1, 3]]}
        return {"lift": lift, "ci_low": low, "ci_high": high, "verdict": verdict, "adherence": 0.5,
                "baseline_rate": 0.2, "confusion": confusion, "values": []}  # fmt: skip

    gain = {"gain": 0.1, "ci_low": 0.05, "ci_high": 0.2}
    summary = _summary(
        fields={"format": judged(2.5, 1.6, 3.9, STEERED), "topics": judged(1.9, 1.2, 2.8, STEERED),
                "tags": judged(1.1, 0.7, 1.6, NO_EVIDENCE),
                "sentiment": {"steerable": False, "reason": "no sentiment labels"}},
        gain_vs_no_header=gain, gain_vs_shuffled=gain, loss_cost_vs_unconditional={**gain, "cost": 0.01},
        judge={f: {"judge": "j"} for f in ("format", "topics", "tags")},
        requests={"format": ["a", "b"], "topics": ["a", "b"], "tags": ["a"]},
    )  # fmt: skip
    return summary, write_experiment(ExperimentResult(summary, {}), ExperimentFiles(folder))


def test_the_report_leads_with_the_headline_and_every_fields_lift(tmp_path):
    """Issue 32, point 5: the verdict comes first — a headline, one plot of every field's lift and interval,
    a sentence per measure — and the tables after."""
    from condpt_dagster.evaluation.experiment_report import headline

    summary, files = _written_report(tmp_path / "t")
    assert headline(summary) == "2 of 4 fields steer: format, topics"
    page = files.html.read_text()
    top = page.index("<h2 id='headline'>2 of 4 fields steer: format, topics</h2>")
    assert top < page.index("lifts.png") < page.index("Lift: how much more") < page.index("<table>")
    assert files.lift_plot.read_bytes()[:4] == b"\x89PNG"
    assert files.markdown.read_text().splitlines()[2] == "**2 of 4 fields steer: format, topics**"


def test_the_reports_headline_and_lift_plot_fit_in_the_first_1000_pixels(tmp_path):
    """Issue 32's target, in a browser: the steering report's headline and lift plot are on the first screen."""
    require_chromium()
    _, files = _written_report(tmp_path / "t")
    with headless_chrome(1400, 1000) as chrome:
        chrome.get(files.html.as_uri())
        assert chrome.find_element("css selector", "h2#headline").text == "2 of 4 fields steer: format, topics"
        plot = chrome.find_element("css selector", "img[src='lifts.png']")
        assert chrome.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot) > 0
        assert bottom_of(chrome, "img[src='lifts.png']") <= 1000
