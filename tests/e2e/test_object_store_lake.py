"""An object-store lake on a local S3-compatible server (moto_server on loopback): shards enter through the
bucket's inbox (seen by the inbox sensor), every stage runs on a local cache mirrored to the bucket, training
runs from a fresh cache filled from the bucket, and DuckDB queries the bucket's Parquet directly."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.object_store import LakeMirror, ObjectStoreError
from condpt_dagster.core.settings import load_settings
from condpt_dagster.defs.definitions import build_definitions
from harness.object_store_server import s3_server

pytestmark = pytest.mark.e2e
CONDPT = str(Path(sys.executable).parent / "condpt")
BUCKET, PREFIX = "condpt-test", "lake"
CONFIG = """
[lake]
root = "s3://condpt-test/lake"
[tokenizer]
vocab_size = 600
[blocks]
block_size = 64
heldout_fraction = 0.0
[training]
run = "s3run"
max_steps = 4
checkpoint_every = 2
micro_batch_size = 2
"""


@pytest.fixture
def s3_lake(tmp_path, monkeypatch):
    with s3_server(tmp_path / "moto.log") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir(BUCKET)
        config = tmp_path / "condpt.toml"
        config.write_text(CONFIG)
        monkeypatch.setenv("CONDPT_CONFIG", str(config))
        monkeypatch.setenv("CONDPT_LAKE_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))  # never the developer's instance
        monkeypatch.delenv("CONDPT_DATA_ROOT", raising=False)
        yield fs


def shard_bytes(docs: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode())


def test_pipeline_on_an_s3_lake(s3_lake, tmp_path, sample_wheels, monkeypatch):
    from condpt_dagster.sample_corpus import sample_documents

    fs = s3_lake
    settings = load_settings()
    assert settings.remote_root == f"s3://{BUCKET}/{PREFIX}" and settings.data_root == str(tmp_path / "cache")
    docs = sample_documents(sample_wheels, 60, seed=3)
    # one shard registered through the CLI (copied into the cache, uploaded), one dropped into the bucket
    local_shard = tmp_path / "s1.jsonl.gz"
    local_shard.write_bytes(shard_bytes(docs[:30]))
    done = subprocess.run([CONDPT, "add-shards", str(local_shard)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert fs.exists(f"{BUCKET}/{PREFIX}/inbox/s1.jsonl.gz")
    fs.pipe(f"{BUCKET}/{PREFIX}/inbox/s2.jsonl.gz", shard_bytes(docs[30:]))

    defs = build_definitions(settings)
    assets = list(defs.assets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["s1"])
        sensor = defs.resolve_sensor_def("inbox_sensor")
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            result = sensor(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["s1", "s2"]  # the bucket's inbox, listed
        instance.add_dynamic_partitions(shards.name, ["s2"])

        def run(selection, partition_key=None):
            outcome = dg.materialize(
                assets, selection=selection, partition_key=partition_key, instance=instance, resources=defs.resources
            )
            assert outcome.success
            return outcome

        for shard in ("s1", "s2"):
            run(["raw_documents", "clean_documents", "document_labels", "conditioned_examples"], shard)
        run(["tokenizer"])
        for shard in ("s1", "s2"):
            run(["token_blocks"], shard)
        keys = set(fs.find(f"{BUCKET}/{PREFIX}"))
        for rel in ("raw/s1.parquet", "clean/s2.parquet", "labels/s1.parquet", "blocks/s2.meta.json"):
            assert f"{BUCKET}/{PREFIX}/{rel}" in keys, rel
        assert not [k for k in keys if "/." in k or "dagster_home" in k]  # temporaries and locks stay local

        # training on another machine: an empty cache, filled from the bucket before the step runs
        shutil.rmtree(settings.data_root)
        trained = run(["checkpoint"]).asset_materializations_for_node("checkpoint")[0].metadata
        assert trained["steps"].value == 4
        manifest = json.loads(fs.cat(f"{BUCKET}/{PREFIX}/checkpoints/s3run/manifest.json"))
        assert sorted(manifest["shards"]) == ["s1", "s2"]

    # DuckDB reads the bucket's Parquet where it lies
    query = "SELECT count(*) AS n, count(DISTINCT filename) AS files FROM labels"
    done = subprocess.run(
        [CONDPT, "audit", "sql", "--bucket", "--format", "json", query], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    kept = 0
    for shard in ("s1", "s2"):
        with fs.open(f"{BUCKET}/{PREFIX}/clean/{shard}.parquet") as handle:
            kept += pq.read_metadata(handle).num_rows
    assert row == {"n": kept, "files": 2} and kept > 20  # one label row per kept document


def test_unreachable_object_store_fails_at_once_with_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(ObjectStoreError, match=r"object store s3://nowhere/lake: listing failed"):
        LakeMirror("s3://nowhere/lake", tmp_path).pull()
