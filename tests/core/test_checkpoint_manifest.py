"""The checkpoint manifest record: older manifests load, damaged ones are refused naming the file, and the
labels versions a run pins are read from its lineage (label retention keeps them)."""

from __future__ import annotations

import json

import pytest

from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.label_history import pinned_versions
from condpt_dagster.core.lake import DataLake

FIRST_MANIFEST = {  # what the first manifests held: no lineage, no hf_dir, fewer figures
    "run": "demo", "config": {"run": "demo"}, "config_version": "v", "code_version": "v", "tokenizer_sha256": "t",
    "shards": ["a", "b"], "partition_data_versions": {"a": "1", "b": "2"}, "steps": 30, "final_loss": 3.5,
}  # fmt: skip


def test_an_older_manifest_loads_with_defaults(tmp_path):
    minimal = {"run": "r", "tokenizer_sha256": "t", "partition_data_versions": {"a": "1"}}  # what the audit needs
    (tmp_path / "minimal.json").write_text(json.dumps(minimal), encoding="utf-8")
    assert CheckpointManifest.load(tmp_path / "minimal.json").config == {}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(FIRST_MANIFEST), encoding="utf-8")
    manifest = CheckpointManifest.load(path)
    assert manifest.steps == 30 and manifest.final_loss == 3.5 and manifest.lineage == {}
    assert manifest.pinned_labels_versions() == {} and manifest.tokens_per_second is None


def test_save_then_load_is_the_same_record_and_file(tmp_path):
    lineage = {"a": {"labels_version": "v1,v2", "conditioned_data_version": "c", "blocks_data_version": "1"}}
    manifest = CheckpointManifest(**{**FIRST_MANIFEST, "lineage": lineage, "tokens_per_second": 812.5})
    path = tmp_path / "manifest.json"
    manifest.save(path)
    assert CheckpointManifest.load(path) == manifest
    assert list(json.loads(path.read_text(encoding="utf-8"))) == list(CheckpointManifest.__dataclass_fields__)


def test_label_retention_reads_pinned_versions_from_every_manifest(tmp_path):
    lake = DataLake.at(tmp_path)
    for run, versions in (("r1", "v1,v2"), ("r2", "v3")):
        lineage = {"a": {"labels_version": versions}, "b": {"labels_version": None}}
        lake.checkpoint(run).folder.mkdir(parents=True)
        CheckpointManifest(**{**FIRST_MANIFEST, "run": run, "lineage": lineage}).save(lake.checkpoint(run).manifest)
    assert pinned_versions(lake) == {"a": {"v1", "v2", "v3"}}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "Expected `object`"),
        (json.dumps({**FIRST_MANIFEST, "steps": "many"}), r"at `\$.steps`"),
        (json.dumps({"run": "r"}), "missing required field"),
    ],
)
def test_a_damaged_manifest_is_refused_naming_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "manifest.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=reason) as exc:
        CheckpointManifest.load(path)
    assert str(path) in str(exc.value)
