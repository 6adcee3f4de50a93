"""The code location loads with the expected assets, partitions, jobs and sensor."""

import dagster as dg

from condpt_dagster.core.settings import IngestOptions, Settings
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
    changed = build_definitions(Settings(data_root=str(tmp_path), ingest=IngestOptions(unicode_form="NFKC")))
    versions = [
        d.resolve_assets_def("raw_documents").code_versions_by_key[dg.AssetKey("raw_documents")]
        for d in (default, changed)
    ]
    assert versions[0] and versions[1] and versions[0] != versions[1]
