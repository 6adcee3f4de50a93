"""document_labels as a Dagster asset: one row per document, metadata, versioning."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import polars as pl
from factories import SHORT_DOCS_CLEAN

from condpt_dagster.assets.clean_documents import build_clean_documents
from condpt_dagster.assets.document_labels import build_document_labels
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.raw_documents import build_raw_documents
from condpt_dagster.core.settings import IngestSettings, LabelerSettings, Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.resources import DataLakeResource, LabelerResource

DOCS = [
    {"id": "r1", "text": "A wonderful film. The acting was brilliant and I loved every minute of it."},
    {"id": "r2", "text": "Terrible movie, boring plot and awful acting. A waste of time."},
    {"id": "n1", "text": "The Senate voted on Tuesday to confirm the nominee after a long debate among lawmakers."},
    {"id": "x1", "text": "!!! ??? ..."},
]


def test_labels_materialize_with_one_row_per_document(lake):
    (lake.inbox / "mix.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in DOCS).encode()))
    labeler = LabelerResource()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["mix"])
        result = dg.materialize(
            [
                build_raw_documents(IngestSettings()),
                build_clean_documents(SHORT_DOCS_CLEAN),
                build_document_labels(labeler),
            ],
            partition_key="mix",
            instance=instance,
            resources={"lake": DataLakeResource(root=str(lake.root)), "labeler": labeler},
        )
        assert result.success
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["one_label_per_document"].passed
        assert checks["one_label_per_document"].metadata["unlabeled"].value == 0
        for name in (
            "rating_in_allowed_set",
            "format_in_allowed_set",
            "synopsis_present",
            "synopsis_within_limit",
            "tag_count_within_limit",
        ):
            assert checks[name].passed, name
        assert checks["distribution_drift"].passed
        assert checks["distribution_drift"].severity == dg.AssetCheckSeverity.WARN
        meta = result.asset_materializations_for_node("document_labels")[0].metadata
        assert meta["dagster/row_count"].value == 4
        assert meta["labeler_version"].value == labeler.version()
        assert meta["label_history"].value == {"kept": [labeler.version()], "pruned": []}
        ratings = {r.data["rating"]: r.data["documents"] for r in meta["ratings"].value.records}
        assert sum(ratings.values()) == 4
    labels = pl.read_parquet(lake.labels("mix"))
    assert sorted(labels["id"]) == ["n1", "r1", "r2", "x1"]
    by_id = {row["id"]: row for row in labels.to_dicts()}
    assert by_id["r1"]["sentiment"] == "positive" and by_id["r2"]["sentiment"] == "negative"
    assert by_id["r1"]["topics"][0] == "entertainment" and "politics" in by_id["n1"]["topics"]
    assert by_id["r1"]["format"] == "review" and by_id["n1"]["format"] == "news" and by_id["x1"]["format"] == "unknown"
    assert by_id["x1"]["error"] and by_id["x1"]["language"] == "und"
    assert set(labels["labeler_version"]) == {labeler.version()}
    kept = pl.read_parquet(lake.label_history("mix", labeler.version()))
    assert kept.equals(labels)  # the published version is in the history too


def test_labeler_settings_change_the_code_version(tmp_path):
    def version(**labeler):
        defs = build_definitions(Settings(data_root=str(tmp_path), labeler=LabelerSettings(**labeler)))
        return defs.resolve_assets_def("document_labels").code_versions_by_key[dg.AssetKey("document_labels")]

    assert version() == version(name="composite")
    assert version() != version(quantize=True)
