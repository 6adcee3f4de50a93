"""Decontamination: held-out documents and evaluation texts vs training blocks, and the checkpoint's blocking
check that stops training."""

from __future__ import annotations

import json
import random

import dagster as dg
import pytest
from factories import CONDITIONING, make_lake

from condpt_dagster.assets.checkpoint import DECONTAMINATION_CHECK, build_checkpoint
from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.settings import CleanSettings, TrainingSettings
from condpt_dagster.resources import DataLakeResource, SubprocessTrainingRunner
from condpt_dagster.stages.checkpoint import check_contamination

STOP_WORDS = ["the", "of", "and", "to", "in", "that", "with", "for", "was", "on", "as", "by", "at", "from"]
# A vocabulary big enough that two random texts share few words (the default shingles are single words).
VOCAB = STOP_WORDS + ["".join(random.Random(k).choices("abcdefghijklmnopqrstuvwxyz", k=6)) for k in range(2000)]


def distinct_texts(n: int) -> list[str]:
    rng = random.Random(3)
    return [" ".join(rng.choice(VOCAB) for _ in range(60)) + "." for _ in range(n)]


@pytest.fixture(scope="module")
def distinct_lake(tmp_path_factory):
    return make_lake(
        tmp_path_factory.mktemp("decon") / "data", n_docs=60, heldout_fraction=0.2, texts=distinct_texts(60)
    )


def test_distinct_documents_pass_and_every_heldout_document_is_checked(distinct_lake):
    report = check_contamination(distinct_lake, ["a", "b"], CleanSettings())
    assert report.passed and report.checked > 0 and report.training_documents + report.checked == 60


def test_an_eval_text_copied_from_training_is_caught(distinct_lake, tmp_path):
    texts = distinct_texts(60)
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"text": texts[0]}) + "\n" + json.dumps({"text": "an unrelated sentence"}) + "\n")
    report = check_contamination(distinct_lake, ["a", "b"], CleanSettings(eval_texts=(str(evals),)))
    assert report.contaminated == 1  # the copy; the held-out documents and the unrelated sentence are clean
    assert report.pairs[0]["document"] == "eval eval.jsonl:1" and report.pairs[0]["similarity"] >= 0.99


def test_an_eval_file_without_text_is_named(distinct_lake, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl.*no 'text' column"):
        check_contamination(distinct_lake, ["a", "b"], CleanSettings(eval_texts=(str(bad),)))


def test_contaminated_heldout_split_stops_training_before_it_starts(tmp_path):
    # 60 words from one of two 8-word vocabularies: every document is a near-duplicate of half the others
    lake = make_lake(tmp_path / "data", heldout_fraction=0.25, words_per_doc=60)
    asset = build_checkpoint(TrainingSettings(run="c", max_steps=2), CONDITIONING, CleanSettings())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={
                "lake": DataLakeResource(root=str(lake.root)),
                "training_runner": SubprocessTrainingRunner(),
            },
            raise_on_error=False,
        )
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == DECONTAMINATION_CHECK and not check.passed
    assert check.metadata["contaminated"].value > 0
    assert not lake.checkpoint("c").weights.exists()
