"""Label history and pinned lineage: after relabeling, auditors still read the labels a checkpoint learned
from, can diff two labeler versions, and retention never drops a pinned version."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import label_row, write_clean, write_labels

from condpt_dagster.audit.access import audit_query, open_for_audit
from condpt_dagster.cli import main as cli
from condpt_dagster.conditioning.blocks import blocks_data_version
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.label_history import archive_labels, history
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import BlocksSettings, ConditioningSettings, TokenizerSettings
from condpt_dagster.stages.checkpoint import shard_lineage
from condpt_dagster.stages.conditioned_examples import condition_shard, labels_version_of
from condpt_dagster.stages.label_audit import audit_writer
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer

N = 12


def relabel(lake: DataLake, version: str, keep: int, tag: str, rating: str, fmt: str) -> None:
    rows = [
        label_row(
            f"a-{i}", tags=[tag, f"t{i % 3}"], rating=rating, format=fmt, labeler="composite", labeler_version=version
        )
        for i in range(N)
    ]
    write_labels(lake.labels("a"), rows)
    archive_labels(lake, "a", version, run_id=f"run-{version}", keep=keep)


def build_blocks(lake: DataLake) -> None:
    condition_shard(lake.clean("a"), lake.labels("a"), lake.conditioned("a"), ConditioningSettings())
    table = pq.read_table(lake.conditioned("a")).to_pydict()
    build_tokenizer(
        list(zip(table["header"], table["text"], strict=True)), lake.tokenizer_dir, TokenizerSettings(vocab_size=400)
    )
    pack_shard(
        lake.conditioned("a"),
        ConditionTokenizer(lake.tokenizer_dir),
        lake.blocks("a"),
        BlocksSettings(block_size=32, heldout_fraction=0),
    )


def train(lake: DataLake, run: str) -> None:
    """What the checkpoint stage and export write, without the training in between."""
    folder = lake.checkpoints_dir / run
    folder.mkdir(parents=True)
    manifest = {
        "run": run,
        "partition_data_versions": {"a": blocks_data_version(lake.blocks("a"))},
        "lineage": {"a": shard_lineage(lake, "a")},
        "tokenizer_sha256": "x",
        "steps": 5,
        "final_loss": 3.0,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def refresh_audit(lake: DataLake) -> None:
    with audit_writer(lake.audit_db, lake) as writer:
        writer.upsert("a")
        writer.record_checkpoints()


@pytest.fixture
def relabeled(tmp_path) -> DataLake:
    """Trained on labels v1, then relabeled twice (v2, v3) and the blocks rebuilt from v3."""
    lake = DataLake.at(tmp_path / "data")
    write_clean(lake, "a", [f"a-{i}" for i in range(N)], [f"Document {i} about ships." for i in range(N)])
    relabel(lake, "v1", keep=1, tag="sea", rating="G", fmt="fiction")
    build_blocks(lake)
    assert labels_version_of(lake.conditioned("a")) == "v1"
    train(lake, "r1")
    relabel(lake, "v2", keep=1, tag="boat", rating="PG", fmt="news")
    relabel(lake, "v3", keep=1, tag="harbor", rating="PG", fmt="review")
    build_blocks(lake)
    refresh_audit(lake)
    return lake


def test_retention_keeps_pinned_versions(relabeled):
    kept = [e["labeler_version"] for e in history(relabeled, "a")]
    assert kept == ["v1", "v3"]  # keep=1: the newest, plus v1 that checkpoint r1 pins; v2 pruned
    written = json.loads(relabeled.label_history("a", "v3").with_suffix(".json").read_text())
    assert written["run_id"] == "run-v3" and written["written_at"]


def test_lineage_shows_the_labels_the_checkpoint_learned_from(relabeled):
    con = open_for_audit(relabeled)
    lineage = audit_query(
        con, "SELECT DISTINCT id, labeler_version, rating, format FROM training_lineage WHERE run = 'r1'"
    )
    assert len(lineage) == N and set(lineage["labeler_version"]) == {"v1"}
    assert set(lineage["rating"]) == {"G"} and set(lineage["format"]) == {"fiction"}
    tags = audit_query(
        con,
        "SELECT tag, count(DISTINCT id) AS documents FROM (SELECT id, unnest(tags) AS tag FROM training_lineage "
        "WHERE run = 'r1') GROUP BY tag ORDER BY tag",
    ).rows()
    assert tags == [("sea", N), ("t0", 4), ("t1", 4), ("t2", 4)]  # v1's distribution, not today's "harbor"
    current = audit_query(con, "SELECT DISTINCT labeler_version FROM labels").rows()
    assert current == [("v3",)]


def test_diff_between_two_versions(relabeled):
    con = open_for_audit(relabeled)
    summary = audit_query(
        con, "SELECT * FROM label_changes WHERE from_version = 'v1' AND to_version = 'v3' AND from_rating <> to_rating"
    )
    assert len(summary) == N and set(summary["tags_gained"].to_list()[0]) == {"harbor"}
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "diff",
            "--from",
            "v1",
            "--to",
            "v3",
            "--shard",
            "a",
            "--format",
            "json",
            "--data",
            str(relabeled.root),
        ],
    )
    assert result.exit_code == 0, result.output
    tables = [json.loads(part) for part in result.output.strip().splitlines() if part.startswith("[")]
    summary_row, confusion, tags = tables
    assert summary_row[0] == {
        "documents": N,
        "rating_changed": N,
        "format_changed": N,
        "sentiment_changed": 0,
        "top_topic_changed": 0,
        "tags_changed": N,
    }
    assert {"field": "format", "from_value": "fiction", "to_value": "review", "documents": N} in confusion
    assert {"change": "gained", "tag": "harbor", "documents": N} in tags
    assert {"change": "lost", "tag": "sea", "documents": N} in tags


def test_unknown_versions_and_checkpoints_name_the_known_ones(relabeled):
    def audit(*args: str):
        return CliRunner().invoke(cli, ["audit", *args, "--data", str(relabeled.root)])

    unknown = audit("diff", "--from", "v1", "--to", "v9")
    assert unknown.exit_code != 0 and "no labeler version 'v9'" in unknown.output and "known: v1, v3" in unknown.output
    itself = audit("diff", "--from", "v3", "--to", "v3", "--format", "json")
    assert itself.exit_code == 0 and json.loads(itself.output.splitlines()[0])[0]["documents"] == 0  # empty
    lineage = audit("lineage", "--checkpoint", "nope")
    assert lineage.exit_code != 0 and "no checkpoint 'nope'" in lineage.output and "known: r1" in lineage.output
