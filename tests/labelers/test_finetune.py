"""The labeler adapter: LoRA fine-tuning on tagged documents, reloading, bad tagged sets, use in labelers."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
import pytest

from condpt_dagster.assets.labeler_adapter import build_labeler_adapter
from condpt_dagster.core.settings import LabelerAdapterSettings
from condpt_dagster.labelers import build_labeler
from condpt_dagster.labelers.composite import CompositeLabeler, CompositeSettings
from condpt_dagster.labelers.finetune import FinetunedLabeler, TaggedSetError, finetune, load_tagged, split, tag_metrics
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.sample_corpus import sample_documents, tagged_rows

FAST = LabelerAdapterSettings(epochs=2, max_tokens=64, batch_size=16)


@pytest.fixture(scope="module")
def trained(sample_wheels, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter")
    rows = tagged_rows(sample_documents(sample_wheels, 200, seed=21))
    rows += rows[:10]  # exact duplicates must not leak across the split
    rows.append({"text": "A one-off document about gardening and tomatoes.", "tags": ["gardening"]})
    (root / "tagged").mkdir()
    pl.DataFrame(rows).write_parquet(root / "tagged" / "set.parquet")
    options = LabelerAdapterSettings.model_validate(
        {**FAST.model_dump(), "tagged_path": str(root / "tagged" / "set.parquet")}
    )
    asset = build_labeler_adapter(options)
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], instance=instance, resources={"lake": DataLakeResource(root=str(root))})
        assert result.success
        meta = result.asset_materializations_for_node("labeler_adapter")[0].metadata
    return root, meta


def test_training_beats_the_untrained_head_and_reports_side_by_side(trained):
    _, meta = trained
    print(
        f"macro-F1 untrained {meta['macro_f1_untrained_head'].value}, finetuned "
        f"{meta['macro_f1_finetuned'].value}, zero-shot composite {meta['macro_f1_zero_shot_composite'].value}"
    )
    assert meta["macro_f1_finetuned"].value > meta["macro_f1_untrained_head"].value + 0.1
    rows = {r.data["tag"]: r.data for r in meta["per_tag"].value.records}
    assert {"topic:entertainment", "format:review", "format:news", "sentiment:positive"} <= set(rows)
    assert all(0 <= rows[t]["zero_shot_f1"] <= 1 for t in rows)
    assert meta["duplicates_removed"].value == 10
    assert 0 < meta["trainable_parameter_share"].value < 0.05


def test_reloaded_adapter_reproduces_its_predictions(trained):
    root, meta = trained
    folder = root / "labeler_adapter"
    validation = pl.read_parquet(folder / "validation.parquet")
    first = FinetunedLabeler(folder).predict_proba(validation["text"].to_list())
    second = FinetunedLabeler(folder).predict_proba(validation["text"].to_list())
    assert np.array_equal(first, second)
    labeler = FinetunedLabeler(folder)
    y_true = np.array([[t in doc for t in labeler.tags] for doc in validation["tags"].to_list()], dtype=int)
    metrics = tag_metrics(labeler.tags, y_true, (first >= labeler.thresholds).astype(int))
    assert metrics["macro_f1"] == meta["macro_f1_finetuned"].value  # the saved model is the trained one


def test_finetuned_tags_feed_the_labelers(trained):
    root, _ = trained
    folder = str(root / "labeler_adapter")
    finetuned = build_labeler("finetuned", {"adapter_dir": folder})
    [review, news] = finetuned.label(
        [
            "A wonderful film: brilliant acting, a moving story, I loved it.",
            "The Senate voted on the budget bill on Tuesday.",
        ]
    )
    assert review.topics == ["entertainment"] and news.topics == []
    assert review.format == "review" and news.format == "news"
    assert review.rating in {"G", "PG", "PG-13", "R"} and review.synopsis
    plain, combined = CompositeLabeler(), CompositeLabeler(CompositeSettings(adapter_dir=folder))
    assert plain.version() != combined.version()
    [row] = combined.label(["A wonderful film: brilliant acting, a moving story, I loved it."])
    assert "finetuned:topic:entertainment" in row.scores


def test_bad_tagged_sets(tmp_path):
    pl.DataFrame({"body": ["x"], "tags": [["a"]]}).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(TaggedSetError, match=r"a\.parquet: missing column\(s\) \['text'\]"):
        load_tagged(tmp_path / "a.parquet")
    pl.DataFrame({"text": ["x"], "tags": ["a"]}).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(TaggedSetError, match="list of strings"):
        load_tagged(tmp_path / "b.parquet")
    pl.DataFrame({"text": ["x", "y"], "tags": [[], []]}).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(TaggedSetError, match="no document has a tag"):
        finetune(tmp_path / "c.parquet", tmp_path / "out", LabelerAdapterSettings(validation_fraction=0.5))
    (tmp_path / "d.jsonl").write_text(
        '{"text": "Same text.", "tags": ["a"], "rating": "PG"}\n'
        '{"text": "same   TEXT.", "tags": ["b"]}\n{"text": "", "tags": ["c"]}\n'
    )
    tagged = load_tagged(tmp_path / "d.jsonl")
    assert tagged.texts == ["Same text."] and tagged.tags == [["a", "rating:PG"]] and tagged.duplicates_removed == 2


def test_split_is_deterministic_and_disjoint(sample_wheels, tmp_path):
    rows = tagged_rows(sample_documents(sample_wheels, 100, seed=4))
    pl.DataFrame(rows).write_parquet(tmp_path / "t.parquet")
    tagged = load_tagged(tmp_path / "t.parquet")
    train, val = split(tagged, 0.2, seed=0)
    assert split(tagged, 0.2, seed=0) == (train, val)
    assert not set(train) & set(val) and 10 <= len(val) <= 30
