"""teacher_sample -> student_labeler -> document_labels with [labeler] name = "student", as Dagster runs them."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.labeler_settings import LabelerSettings, StudentSettings
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions

SHARDS = {"a": 80, "b": 40}


@pytest.fixture(scope="module")
def lake_with_clean_shards(tmp_path_factory, sample_wheels):
    from condpt_dagster.core.lake import DataLake
    from condpt_dagster.sample_corpus import sample_documents

    lake = DataLake.at(tmp_path_factory.mktemp("student-lake") / "data")
    lake.inbox.mkdir(parents=True)
    docs = sample_documents(sample_wheels, sum(SHARDS.values()), seed=5)
    start = 0
    for shard, n in SHARDS.items():
        lines = "".join(json.dumps(d) + "\n" for d in docs[start : start + n])
        (lake.inbox / f"{shard}.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
        start += n
    return lake


def definitions(lake, **student):
    options = {"sample_docs": 60, "min_examples": 3, "epochs": 1, **student}
    return build_definitions(
        Settings(
            data_root=str(lake.root),
            labeler=LabelerSettings(name="student"),
            student=StudentSettings(**options),
        )
    )


def run(defs, instance, selection, partition_key=None, raise_on_error=True):
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        partition_key=partition_key,
        instance=instance,
        resources=defs.resources,
        raise_on_error=raise_on_error,
    )


def test_student_distilled_from_the_corpus_labels_a_shard(lake_with_clean_shards):
    lake = lake_with_clean_shards
    defs = definitions(lake, min_agreement=0.0, min_sentiment_agreement=0.0)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, list(SHARDS))
        for shard in SHARDS:
            run(defs, instance, ["raw_documents", "clean_documents"], shard)
        sample = run(defs, instance, ["teacher_sample"]).asset_materializations_for_node("teacher_sample")[0]
        per_shard = {r.data["shard"]: r.data["documents"] for r in sample.metadata["per_shard"].value.records}
        clean = {s: pq.ParquetFile(lake.clean(s)).metadata.num_rows for s in SHARDS}
        assert sum(per_shard.values()) == 60 and per_shard["a"] > per_shard["b"] > 0  # in proportion to size
        assert abs(per_shard["a"] / 60 - clean["a"] / sum(clean.values())) < 0.05
        trained = run(defs, instance, ["student_labeler"])
        check = trained.get_asset_check_evaluations()[0]
        assert check.check_name == "student_agrees_with_teacher" and check.passed
        meta = trained.asset_materializations_for_node("student_labeler")[0].metadata
        assert meta["published"].value and 0 <= meta["agreement_top_topic"].value <= 1
        reloaded = definitions(lake, min_agreement=0.0, min_sentiment_agreement=0.0)  # the version reads the files
        run(reloaded, instance, ["document_labels"], "b")
    labels = pl.read_parquet(lake.labels("b"))
    version = reloaded.resources["labeler"].version()
    assert set(labels["labeler"]) == {"student"} and set(labels["labeler_version"]) == {version}
    assert len(labels) == clean["b"] and labels["synopsis"].str.len_chars().min() > 0
    key = dg.AssetKey("document_labels")
    code_versions = [d.resolve_assets_def("document_labels").code_versions_by_key[key] for d in (defs, reloaded)]
    assert code_versions[0] != code_versions[1] == version  # training the student made the labels unsynced


def test_a_failed_agreement_check_blocks_the_student_and_its_labels(lake_with_clean_shards):
    lake = lake_with_clean_shards
    defs = definitions(lake, min_agreement=1.0, min_sentiment_agreement=1.0, seed=3)
    before = sorted(p.name for p in lake.student_model.glob("*")) if lake.student_model.exists() else []
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, list(SHARDS))
        for shard in SHARDS:
            run(defs, instance, ["raw_documents", "clean_documents"], shard)
        run(defs, instance, ["teacher_sample"])
        result = run(defs, instance, ["student_labeler", "document_labels"], "a", raise_on_error=False)
        check = result.get_asset_check_evaluations()[0]
        assert not check.passed and "short by" in check.metadata["summary"].value
        assert not result.asset_materializations_for_node("document_labels")  # blocked downstream
    assert (lake.student_dir / "model-rejected" / "manifest.json").is_file()
    after = sorted(p.name for p in lake.student_model.glob("*")) if lake.student_model.exists() else []
    assert after == before
