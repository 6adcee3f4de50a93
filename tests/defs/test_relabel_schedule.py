"""The relabel schedule asks for exactly the shards labeled by another labeler version, once per version."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.settings import RelabelSettings, Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.defs.schedules import RELABEL_ASSETS
from condpt_dagster.resources import DataLakeResource, LabelerResource


def labels_with_version(lake, shard, version):
    lake.labels_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ["x"], "labeler_version": [version]}), lake.labels(shard))


def test_only_outdated_shards_are_relabeled(lake):
    labeler = LabelerResource()
    current = labeler.version()
    labels_with_version(lake, "old", "0000000000000000")
    labels_with_version(lake, "fresh", current)
    defs = build_definitions(Settings(data_root=str(lake.root), relabel=RelabelSettings(cron="0 4 * * 1")))
    schedule = defs.resolve_schedule_def("relabel_schedule")
    assert schedule.cron_schedule == "0 4 * * 1"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["old", "fresh", "unlabeled"])
        with dg.build_schedule_context(
            instance=instance, resources={"lake": DataLakeResource(root=str(lake.root)), "labeler": labeler}
        ) as context:
            [request] = schedule(context)
    assert request.partition_key == "old"
    assert request.run_key == f"relabel:old:{current}"  # a repeat with the same version is a no-op
    assert {k.to_user_string() for k in request.asset_selection} == set(RELABEL_ASSETS)
    assert request.tags["condpt/relabel_to"] == current


def test_nothing_to_do_is_a_skip(lake):
    labeler = LabelerResource()
    labels_with_version(lake, "fresh", labeler.version())
    defs = build_definitions(Settings(data_root=str(lake.root)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["fresh"])
        with dg.build_schedule_context(
            instance=instance, resources={"lake": DataLakeResource(root=str(lake.root)), "labeler": labeler}
        ) as context:
            result = defs.resolve_schedule_def("relabel_schedule")(context)
    assert isinstance(result, dg.SkipReason)
