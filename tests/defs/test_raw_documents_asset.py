"""raw_documents as a Dagster asset, and the inbox sensor, against a test instance."""

import gzip
import json

import dagster as dg
import polars as pl
import pytest

from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.raw_documents import build_raw_documents
from condpt_dagster.core.settings import IngestSettings, Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.resources import DataLakeResource


def write_shard(lake, name, records, extra=b""):
    path = lake.inbox / name
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records) + extra))
    return path


def test_materialize_one_partition(lake):
    write_shard(
        lake,
        "news-1.jsonl.gz",
        [{"id": "a", "text": "Hello <br />world"}, {"text": "Hello\nworld"}],
        extra=b"{broken\n",
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["news-1"])
        result = dg.materialize(
            [build_raw_documents(IngestSettings())],
            partition_key="news-1",
            instance=instance,
            resources={"lake": DataLakeResource(root=str(lake.root))},
        )
        assert result.success
        mat = result.asset_materializations_for_node("raw_documents")[0]
        meta = mat.metadata
        assert meta["dagster/row_count"].value == 2  # equal once <br /> is normalized: clean_documents removes one
        assert meta["quarantined"].value == 1
        checks = result.get_asset_check_evaluations()
        assert [c.check_name for c in checks] == ["rows_accounted_for"] and checks[0].passed
        assert checks[0].partition == "news-1"  # the UI shows a partitioned check per partition (issue 32, point 2)
        record = instance.get_latest_materialization_event(dg.AssetKey("raw_documents"))
        assert record.asset_materialization.tags["dagster/data_version"]
    raw = pl.read_parquet(lake.raw("news-1"))
    assert raw["id"].to_list()[0] == "a" and raw["text"].n_unique() == 1
    assert pl.read_parquet(lake.quarantine("news-1"))["reason"].to_list() == ["invalid_json"]


def test_materialize_fails_clearly_for_missing_inbox_file(lake):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["ghost"])
        with pytest.raises(FileNotFoundError, match="ghost"):
            dg.materialize(
                [build_raw_documents(IngestSettings())],
                partition_key="ghost",
                instance=instance,
                resources={"lake": DataLakeResource(root=str(lake.root))},
            )


def test_sensor_registers_each_file_once(lake):
    defs = build_definitions(Settings(data_root=str(lake.root)))
    sensor = defs.resolve_sensor_def("inbox_sensor")
    write_shard(lake, "a.jsonl.gz", [{"text": "one"}])
    write_shard(lake, "b.jsonl.gz", [{"text": "two"}])
    (lake.inbox / "notes.txt").write_text("ignored: not a shard")
    with dg.instance_for_test() as instance:

        def tick(cursor=None):
            resources = {"lake": DataLakeResource(root=str(lake.root))}
            # a context manager: the lake resource has setup/teardown hooks (the object-store sync)
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, definitions=defs
            ) as ctx:
                return sensor(ctx)  # direct invocation: the SensorResult as the daemon receives it

        first = tick()
        assert sorted(r.partition_key for r in first.run_requests) == ["a", "b"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["a", "b"]
        assert all(r.run_key.startswith(f"{r.partition_key}@") for r in first.run_requests)

        again = tick(first.cursor)
        assert again.run_requests == [] and again.skip_reason

        write_shard(lake, "c.jsonl.gz", [{"text": "three"}])
        third = tick(first.cursor)
        assert [r.partition_key for r in third.run_requests] == ["c"]


def test_sensor_requests_no_run_for_content_that_raw_documents_already_ingested(lake):
    """`make demo` then `make ui`: what `condpt materialize` ingested must not be ingested again by the sensor,
    and a file whose content changed since must be."""
    defs = build_definitions(Settings(data_root=str(lake.root)))
    sensor = defs.resolve_sensor_def("inbox_sensor")
    write_shard(lake, "a.jsonl.gz", [{"text": "one"}])
    write_shard(lake, "b.jsonl.gz", [{"text": "two"}])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        for key in ("a", "b"):  # as `condpt materialize` runs them: in process, before any sensor tick
            resources = {"lake": DataLakeResource(root=str(lake.root))}
            assets = [build_raw_documents(IngestSettings())]
            assert dg.materialize(assets, partition_key=key, instance=instance, resources=resources).success

        def tick(cursor=None):
            resources = {"lake": DataLakeResource(root=str(lake.root))}
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
                return sensor(ctx)

        first = tick()
        assert first.run_requests == []
        assert "2 already ingested" in first.skip_reason.skip_message

        write_shard(lake, "b.jsonl.gz", [{"text": "two, rewritten"}])  # new content under the same name
        second = tick(first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["b"]
