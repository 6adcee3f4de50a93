"""The block_exports asset and `condpt export blocks`: per shard, versioned, formats from settings or the CLI."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner
from factories import make_lake

from condpt_dagster.assets.block_exports import build_block_exports
from condpt_dagster.assets.partitions import shards
from condpt_dagster.cli import main
from condpt_dagster.core.settings import ExportSettings
from condpt_dagster.resources import DataLakeResource


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_lake(tmp_path_factory.mktemp("asset") / "data", n_docs=16)


def materialize(lake, options: ExportSettings, shard: str, instance) -> dg.ExecuteInProcessResult:
    resources = {"lake": DataLakeResource(root=str(lake.root))}
    return dg.materialize([build_block_exports(options)], partition_key=shard, instance=instance, resources=resources)


def test_the_asset_exports_one_shard_with_its_lineage_and_a_stable_version(lake):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        first = materialize(lake, ExportSettings(), "a", instance)
        again = materialize(lake, ExportSettings(), "a", instance)
    [event] = first.asset_materializations_for_node("block_exports")
    meta = event.metadata
    assert meta["formats"].value == "megatron, hf" and meta["documents"].value == 8
    assert meta["megatron_path"].value.endswith("megatron/a/text_document")
    assert lake.exports.hf_data("a").is_file() and not lake.exports.hf_data("b").exists()
    [event_again] = again.asset_materializations_for_node("block_exports")
    version = "dagster/data_version"
    assert event.tags[version] == event_again.tags[version]  # same blocks, same export


def test_the_code_version_follows_the_formats():
    both, hf_only = build_block_exports(ExportSettings()), build_block_exports(ExportSettings(formats=("hf",)))
    key = dg.AssetKey("block_exports")
    assert both.code_versions_by_key[key] != hf_only.code_versions_by_key[key]


def test_a_shard_without_blocks_fails_with_the_command_that_builds_them(lake):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["nope"])
        with pytest.raises(dg.Failure, match=r"needs token_blocks .* condpt materialize --select token_blocks"):
            materialize(lake, ExportSettings(), "nope", instance)


def test_cli_exports_the_asked_format_for_the_asked_shard(tmp_path, monkeypatch):
    lake = make_lake(tmp_path / "data", n_docs=16)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDPT_CONFIG", raising=False)
    runner = CliRunner()
    from condpt_dagster.cli.common import dagster_instance

    dagster_instance(lake).add_dynamic_partitions(shards.name, ["a", "b"])
    out = runner.invoke(main, ["export", "blocks", "--format", "megatron", "--shard", "b", "--data", str(lake.root)])
    assert out.exit_code == 0, out.output
    assert "--data-path" in out.output and "text_document" in out.output
    assert (lake.exports.megatron("b") / "text_document.idx").is_file()
    assert not lake.exports.megatron("a").exists() and not lake.exports.hf_dir.exists()
    bad = runner.invoke(main, ["export", "blocks", "--format", "mds", "--data", str(lake.root)])
    assert bad.exit_code == 2 and "'mds' is not one of 'megatron', 'hf'" in bad.output
