"""The code location loads with the expected assets, partitions, jobs and sensor."""

import dagster as dg

from condpt_dagster.core.settings import IngestSettings, Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.defs.jobs import SHARD_JOB


def test_definitions_load(tmp_path):
    defs = build_definitions(Settings(data_root=str(tmp_path)))
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"raw_documents"} <= keys
    raw = defs.resolve_assets_def("raw_documents")
    assert isinstance(raw.partitions_def, dg.DynamicPartitionsDefinition)
    assert raw.partitions_def.name == "shards"
    assert defs.resolve_sensor_def("inbox_sensor").job_name == SHARD_JOB
    assert defs.resolve_job_def(SHARD_JOB).partitions_def == raw.partitions_def


def test_code_version_follows_ingest_settings(tmp_path):
    default = build_definitions(Settings(data_root=str(tmp_path)))
    changed = build_definitions(Settings(data_root=str(tmp_path), ingest=IngestSettings(unicode_form="NFKC")))
    versions = [
        d.resolve_assets_def("raw_documents").code_versions_by_key[dg.AssetKey("raw_documents")]
        for d in (default, changed)
    ]
    assert versions[0] and versions[1] and versions[0] != versions[1]


# What loading the code location must not import: each costs 0.1-1.4 s and is only needed by a step that runs.
HEAVY_MODULES = ("torch", "transformers", "sklearn", "scipy", "datasketch", "matplotlib", "datatrove", "peft")
HEAVY_MODULES += ("model2vec", "deepspeed", "vaderSentiment", "profanity_check")


def test_loading_the_code_location_imports_no_heavy_library(tmp_path):
    import os
    import subprocess
    import sys

    probe = (
        "import sys, condpt_dagster.defs.definitions as d; d.defs.resolve_all_asset_keys(); "
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "CONDPT_CONFIG"} | {"CONDPT_DATA_ROOT": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    assert out.stdout.split() == [], f"imported while loading definitions: {out.stdout.strip()}"


def test_runs_execute_their_steps_in_one_process(tmp_path):
    defs = build_definitions(Settings(data_root=str(tmp_path)))
    for job in (SHARD_JOB, "__ASSET_JOB"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor, job


def test_student_labeler_reads_the_lakes_student_and_depends_on_it(tmp_path):
    from condpt_dagster.core.labeler_settings import LabelerSettings

    defs = build_definitions(Settings(data_root=str(tmp_path), labeler=LabelerSettings(name="student")))
    assert defs.resources["labeler"].student_dir == str(tmp_path / "student" / "model")
    assert defs.resources["teacher"].name == "composite"
    labels = defs.resolve_assets_def("document_labels")
    assert dg.AssetKey("student_labeler") in labels.dependency_keys
    composite = build_definitions(Settings(data_root=str(tmp_path))).resolve_assets_def("document_labels")
    assert dg.AssetKey("student_labeler") not in composite.dependency_keys
