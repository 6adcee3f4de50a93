"""Issue 28, hole 10: a shard that sorts before earlier-ingested ones no longer leaves copies of its documents in
them: the CLI reruns (or names) the stale shards, and a sensor does the same for the deployment."""

from __future__ import annotations

import gzip
import json
import random

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import load_settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages.clean_documents import stale_shards

WORDS = ["the", "of", "and", "to", "in"] + ["".join(random.Random(k).choices("abcdefghij", k=7)) for k in range(900)]
SELECT = "raw_documents,clean_documents"


def text(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(80)) + "."


def write_shard(path, texts: list[str]) -> str:
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    return str(path)


@pytest.fixture
def run(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    config = tmp_path / "condpt.toml"  # synthetic texts: only deduplication removes anything
    config.write_text("[clean.gopher_quality]\nenabled = false\n[clean.gopher_repetition]\nenabled = false\n")
    monkeypatch.setenv("CONDPT_CONFIG", str(config))
    monkeypatch.setenv("CONDPT_DATA_ROOT", str(data))

    def invoke(*args: str):
        result = CliRunner().invoke(cli, [*args, "--data", str(data)])
        assert result.exit_code == 0, result.output
        return result.output

    return DataLake.at(data), invoke


def kept(lake: DataLake) -> dict[str, list[str]]:
    return {s: sorted(pl.read_parquet(lake.clean(s))["text"].to_list()) for s in lake.raw_shards()}


def arrive_late(tmp_path, lake, invoke, *converge: str) -> str:
    """Shard b is ingested and cleaned first; then a, which sorts before it and holds two of b's documents."""
    invoke("add-shards", write_shard(tmp_path / "b.jsonl.gz", [text(1), text(2), text(3)]))
    invoke("materialize", "--select", SELECT)
    invoke("add-shards", write_shard(tmp_path / "a.jsonl.gz", [text(2), text(3), text(4)]))
    return invoke("materialize", "--select", SELECT, "--shard", "a", *converge)


def test_the_cli_reruns_shards_cleaned_before_an_earlier_shard_arrived(tmp_path, run):
    lake, invoke = run
    output = arrive_late(tmp_path, lake, invoke)
    assert "shard b was deduplicated without earlier shard(s) a" in output
    assert "rerunning clean_documents for 1 shard(s)" in output
    assert stale_shards(lake) == {}
    expected = {"a": sorted([text(2), text(3), text(4)]), "b": [text(1)]}  # what arrival in name order gives
    assert kept(lake) == expected


def test_without_converge_the_cli_names_the_shards_and_the_command(tmp_path, run):
    lake, invoke = run
    output = arrive_late(tmp_path, lake, invoke, "--no-converge")
    assert "rerun them so duplicates across shards are removed: condpt materialize --select clean_documents" in output
    assert stale_shards(lake) == {"b": ["a"]} and len(kept(lake)["b"]) == 3  # b still holds a's documents


def test_the_sensor_requests_one_rerun_per_arrival(tmp_path, run):
    lake, invoke = run
    arrive_late(tmp_path, lake, invoke, "--no-converge")
    defs = build_definitions(load_settings())
    sensor = defs.resolve_sensor_def("dedup_convergence_sensor")
    with dg.instance_for_test() as instance:
        resources = {"lake": DataLakeResource(root=str(lake.root))}
        with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
            [request] = sensor(context).run_requests
    assert request.partition_key == "b" and request.run_key == "converge:b:a"
    assert request.asset_selection == [dg.AssetKey("clean_documents")]  # b has nothing downstream yet
