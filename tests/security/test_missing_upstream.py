"""Issue 28, hole 11: an asset asked for before its upstream partition exists says which one is missing and the
command that builds it, in one line, from the CLI and from a run launched anywhere else."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions


@pytest.fixture
def registered(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    source = tmp_path / "s.jsonl.gz"
    with gzip.open(source, "wt") as fh:
        fh.write(json.dumps({"text": "One short document about the weather."}) + "\n")

    def invoke(*args: str):
        return CliRunner().invoke(cli, [*args, "--data", str(lake.root)])

    assert invoke("add-shards", str(source)).exit_code == 0
    return invoke


@pytest.mark.parametrize(
    ("select", "needs", "command"),
    [
        (
            "raw_documents,document_labels",
            "needs clean_documents",
            "condpt materialize --select clean_documents --shard s",
        ),
        ("conditioned_examples", "needs clean_documents", "--select clean_documents --shard s"),
        ("token_blocks", "needs conditioned_examples", "--select conditioned_examples --shard s"),
    ],
)
def test_the_cli_names_the_missing_upstream_and_runs_nothing(lake, registered, select, needs, command):
    result = registered("materialize", "--select", select)
    assert result.exit_code == 1 and needs in result.output and command in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not lake.raw("s").exists()  # refused before any run


def test_token_blocks_without_a_tokenizer_names_the_tokenizer_command(lake, registered):
    assert registered("materialize", "--select", "raw_documents").exit_code == 0
    lake.conditioned_dir.mkdir(parents=True)
    lake.conditioned("s").write_bytes(b"stand-in")  # present: only the tokenizer is missing
    result = registered("materialize", "--select", "token_blocks")
    assert result.exit_code == 1 and "needs tokenizer" in result.output
    assert "run condpt materialize --select tokenizer" in result.output and "--shard" not in result.output


def test_a_run_launched_elsewhere_fails_with_the_same_line(lake):
    """The UI, a sensor or a backfill do not pass through the CLI: the asset itself refuses."""
    defs = build_definitions(Settings(data_root=str(lake.root)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shards", ["s"])
        result = dg.materialize(
            list(defs.assets),
            selection=["document_labels"],
            partition_key="s",
            instance=instance,
            resources=defs.resources,
            raise_on_error=False,
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("document_labels of shard 's' needs clean_documents") and "--shard s" in message
