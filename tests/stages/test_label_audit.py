"""The auditors' DuckDB: upserts, views, lineage, read-only guards, readers during writes, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import label_row, write_clean, write_labels

from condpt_dagster.audit.access import AuditQueryError, audit_query, open_for_audit
from condpt_dagster.cli import main as cli
from condpt_dagster.conditioning.blocks import blocks_data_version
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core import double_buffer
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import BlocksSettings, ConditioningSettings, TokenizerSettings
from condpt_dagster.stages.conditioned_examples import condition_shard
from condpt_dagster.stages.label_audit import audit_writer
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer

TOPICS = ("sports", "politics", "movies")


def write_shard(lake: DataLake, shard: str, n: int, version: str = "v1") -> None:
    ids = [f"{shard}-{i}" for i in range(n)]
    texts = [f"Document {i} of {shard} about {TOPICS[i % 3]} and more words here." for i in range(n)]
    write_clean(lake, shard, ids, texts)
    rows = [
        label_row(
            doc_id,
            tags=[TOPICS[i % 3], "common"],
            topics=[TOPICS[i % 3]],
            rating=["G", "PG"][i % 2],
            format=["news", "review", "fiction"][i % 3],
            synopsis=f"About {TOPICS[i % 3]}.",
            scores=json.dumps({f"tag:{TOPICS[i % 3]}": 0.5, "tag:common": 0.25, "rating": i / n}),
            labeler="composite",
            labeler_version=version,
        )
        for i, doc_id in enumerate(ids)
    ]
    write_labels(lake.labels(shard), rows)


@pytest.fixture
def audited(tmp_path):
    lake = DataLake.at(tmp_path / "data")
    for shard, n in (("a", 30), ("b", 12)):
        write_shard(lake, shard, n)
        condition_shard(lake.clean(shard), lake.labels(shard), lake.conditioned(shard), ConditioningSettings())
    examples = [
        (h, t)
        for s in "ab"
        for h, t in zip(
            *pq.read_table(lake.conditioned(s)).select(["header", "text"]).to_pydict().values(), strict=True
        )
    ]
    build_tokenizer(examples, lake.tokenizer_dir, TokenizerSettings(vocab_size=400))
    tok = ConditionTokenizer(lake.tokenizer_dir)
    for shard in "ab":
        pack_shard(lake.conditioned(shard), tok, lake.blocks(shard), BlocksSettings(block_size=32, heldout_fraction=0))
    run_dir = lake.checkpoints_dir / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(
        json.dumps(
            {
                "run": "r1",
                "partition_data_versions": {"a": blocks_data_version(lake.blocks("a"))},
                "tokenizer_sha256": tok.sha256,
                "steps": 10,
                "final_loss": 3.2,
            }
        )
    )
    with audit_writer(lake.audit_db, lake) as writer:
        for shard in "ab":
            writer.upsert(shard)
        writer.record_checkpoints()
    return lake


def test_views_answer_the_auditors_questions(audited):
    con = open_for_audit(audited)
    tags = audit_query(con, "SELECT tag, documents, mean_score FROM tag_distribution WHERE kind = 'tag'")
    assert tags.row(0) == ("common", 42, 0.25)
    ratings = dict(audit_query(con, "SELECT rating, documents FROM rating_distribution").rows())
    assert ratings == {"G": 21, "PG": 21}
    formats = dict(audit_query(con, "SELECT format, documents FROM format_distribution").rows())
    assert formats == {"news": 14, "review": 14, "fiction": 14}
    ranked = audit_query(con, "SELECT id, score FROM tags WHERE kind = 'rating' ORDER BY score DESC LIMIT 1")
    assert ranked.row(0) == ("a-29", 29 / 30)  # auditors rank documents by the continuous rating score
    versions = audit_query(con, "SELECT labeler_version, shards, documents FROM labeler_versions").rows()
    assert versions == [("v1", 2, 42)]
    lineage = audit_query(con, "SELECT DISTINCT shard, id FROM training_lineage WHERE run = 'r1'")
    assert set(lineage["shard"]) == {"a"} and len(lineage) == 30  # r1 trained on shard a only
    spans = audit_query(con, "SELECT count(*) FROM block_spans WHERE shard = 'a'").item()
    assert audit_query(con, "SELECT count(*) FROM training_lineage").item() == spans


def test_upsert_replaces_a_shard(audited):
    write_shard(audited, "b", 6, version="v2")
    with audit_writer(audited.audit_db, audited) as writer:
        counts = writer.upsert("b")
    assert counts["documents"] == 6 and counts["labels"] == 6
    con = open_for_audit(audited)
    rows = dict(
        (v, s) for v, s, _ in audit_query(con, "SELECT labeler_version, shards, documents FROM labeler_versions").rows()
    )
    assert rows == {"v1": 1, "v2": 1}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO labels (id) VALUES ('x')", "only read queries"),
        ("ATTACH 'other.duckdb' AS o", "only read queries"),
        ("COPY labels TO 'out.csv'", "only read queries"),
        ("DELETE FROM tags", "only read queries"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_text('/etc/hostname')", "table function"),
    ],
)
def test_auditors_cannot_write_or_read_files(audited, sql, message):
    con = open_for_audit(audited)
    with pytest.raises(AuditQueryError, match=message):
        audit_query(con, sql)


def test_readers_see_no_lock_errors_during_upserts(audited, tmp_path):
    reader = f"""
import sys, time
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parents[1])!r})
from condpt_dagster.audit.access import open_for_audit, audit_query
from condpt_dagster.core.lake import DataLake
lake = DataLake.at({str(audited.root)!r})
seen, errors, deadline = set(), 0, time.monotonic() + 8
while time.monotonic() < deadline:
    try:
        seen.add(audit_query(open_for_audit(lake), "SELECT count(*) FROM labels").item())
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr)
print(sorted(seen), errors)
"""
    readers = [
        subprocess.Popen([sys.executable, "-c", reader], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(1)
    for n in (20, 8, 12, 5, 12):
        write_shard(audited, "b", n)
        with audit_writer(audited.audit_db, audited) as writer:
            writer.upsert("b")
    for proc in readers:
        out, err = proc.communicate(timeout=60)
        seen, errors = out.rsplit(" ", 1)
        assert int(errors) == 0, err[-2000:]
        assert set(json.loads(seen)) <= {30 + n for n in (12, 20, 8, 12, 5)}  # only complete snapshots


def test_audit_cli(audited, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["audit", "tags", "--top", "2", "--format", "csv", "--data", str(audited.root)])
    assert out.exit_code == 0 and out.output.splitlines()[:2] == ["kind,tag,documents,mean_score", "tag,common,42,0.25"]
    out = runner.invoke(cli, ["audit", "ratings", "--by", "shard", "--format", "json", "--data", str(audited.root)])
    assert {(r["shard"], r["rating"]) for r in json.loads(out.output)} == {
        ("a", "G"),
        ("a", "PG"),
        ("b", "G"),
        ("b", "PG"),
    }
    out = runner.invoke(
        cli,
        [
            "audit",
            "lineage",
            "--checkpoint",
            "r1",
            "--data",
            str(audited.root),
            "--output",
            str(tmp_path / "l.csv"),
            "--format",
            "csv",
        ],
    )
    assert out.exit_code == 0 and (tmp_path / "l.csv").read_text().startswith("shard,documents,blocks")
    out = runner.invoke(cli, ["audit", "sql", "DROP TABLE labels", "--data", str(audited.root)])
    assert out.exit_code != 0 and "only read queries" in out.output


def test_tag_cooccurrence_is_precomputed_per_shard_and_follows_upserts(audited):
    direct = """
        SELECT a.tag, b.tag, count(*) FROM tags a JOIN tags b
        ON a.shard = b.shard AND a.id = b.id AND a.tag < b.tag WHERE a.kind = 'tag' AND b.kind = 'tag'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"""
    con = open_for_audit(audited)
    view = audit_query(con, "SELECT tag_a, tag_b, documents FROM tag_cooccurrence").rows()
    assert view == con.execute(direct).fetchall() and ("common", "sports") in {(a, b) for a, b, _ in view}
    con.close()
    write_shard(audited, "b", 3)  # shard b replaced: its pairs must be recounted, not added
    with audit_writer(audited.audit_db, audited) as writer:
        writer.upsert("b")
    con = open_for_audit(audited)
    view = audit_query(con, "SELECT tag_a, tag_b, documents FROM tag_cooccurrence").rows()
    assert view == con.execute(direct).fetchall() and sum(n for *_, n in view) == 30 + 3


def test_audit_tables_print_as_tables(audited):
    """Issue 32, point 7: no polars `shape: (rows, columns)` line or dtype row above an audit table, and a
    Markdown table on request."""
    runner = CliRunner()
    table = runner.invoke(cli, ["audit", "tags", "--top", "2", "--data", str(audited.root)]).output
    assert "shape:" not in table and "str" not in table.split()
    assert table.splitlines()[1].split()[1:4] == ["kind", "┆", "tag"]
    markdown = runner.invoke(cli, ["audit", "tags", "--top", "2", "--format", "markdown", "--data", str(audited.root)])
    lines = markdown.output.splitlines()
    assert lines[0].replace(" ", "") == "|kind|tag|documents|mean_score|"
    assert set(lines[1]) <= {"|", "-", ":"} and lines[2].replace(" ", "") == "|tag|common|42|0.25|"


def test_audit_show_gives_a_documents_text_labels_scores_and_removal(audited):
    """Issue 32, point 9: an auditor sees why a document got its labels, through the audit database only."""
    import pyarrow as pa

    from condpt_dagster.stages.clean_documents import REMOVED_SCHEMA

    removed = {"id": ["gone-1"], "shard": ["b"], "line": [7], "reason": ["near_duplicate"]}
    removed |= {"duplicate_of": ["a-3"], "duplicate_shard": ["a"], "similarity": [0.91]}
    pq.write_table(pa.Table.from_pydict(removed, schema=REMOVED_SCHEMA), audited.removed("b"))
    with audit_writer(audited.audit_db, audited) as writer:
        writer.upsert("b")

    runner = CliRunner()
    card = runner.invoke(cli, ["audit", "show", "--id", "a-1", "--data", str(audited.root)])
    assert card.exit_code == 0, card.output
    lines = card.output.splitlines()
    assert lines[0].startswith("document a-1  shard a, line") and "source" in lines[0]
    assert "| Document 1 of a about politics and more words here." in card.output
    evidence = {line.split()[0]: line for line in lines if line.startswith("  ") and not line.startswith("  |")}
    assert evidence["format"].split()[1] == "review"
    assert "politics 0.500, common 0.250" in evidence["tags"]
    assert evidence["rating"].split()[1:4] == ["PG", "score", f"{1 / 30:.3f}"]
    assert "composite v1" in evidence["labeler"]

    gone = runner.invoke(cli, ["audit", "show", "--id", "gone-1", "--data", str(audited.root)])
    assert gone.output.strip() == "removed gone-1  shard b, line 7: near_duplicate of a-3 in a (similarity 0.91)"
    missing = runner.invoke(cli, ["audit", "show", "--id", "x' OR '1'='1", "--data", str(audited.root)])
    assert missing.exit_code == 1 and "no document \"x' OR '1'='1\"" in missing.output  # a parameter, not SQL


def test_the_card_shows_the_format_evidence():
    from condpt_dagster.audit.card import evidence_lines

    row = {"format": "review", "topics": [], "rating": "G", "sfw": True, "sentiment": "neutral", "tags": []}
    row |= {"language": "en", "synopsis": "s", "length": "short", "readability": 5.0, "labeler": "student"}
    row |= {"labeler_version": "v", "error": None}
    row["scores"] = json.dumps({"format:review": 0.6, "format:news": 0.28, "cue:first_person": 0.4})
    expected = "format      review  score 0.600  (next: news 0.280; layout cues: first_person 0.400)"
    assert evidence_lines(row)[0] == expected


def _tables(db) -> dict[str, list]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        names = ("documents", "labels", "tags", "tag_pairs", "block_spans", "checkpoints", "label_history")
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in names}


def test_upserts_replayed_across_generations_equal_a_fresh_build(audited, tmp_path, monkeypatch):
    """Each upsert writes the unpublished generation in place and first replays what it missed: after
    several, the published database must hold exactly what one writer building it from the lake holds."""
    monkeypatch.setattr(double_buffer, "COPY_BELOW_BYTES", 0)  # replay however small the database is
    for n in (5, 9):
        write_shard(audited, "b", n, version=f"v{n}")
        with audit_writer(audited.audit_db, audited) as writer:
            writer.upsert("b")
    write_shard(audited, "c", 4)
    with audit_writer(audited.audit_db, audited) as writer:
        writer.upsert("c")
        writer.record_checkpoints()
    fresh = tmp_path / "fresh.duckdb"
    with audit_writer(fresh, audited) as writer:
        for shard in "abc":
            writer.upsert(shard)
        writer.record_checkpoints()
    assert _tables(audited.audit_db) == _tables(fresh)
    assert len(_tables(fresh)["labels"]) == 30 + 9 + 4


def test_a_generation_catches_up_with_what_was_published_not_with_the_lake(audited, monkeypatch):
    """Shard b relabelled in the lake but not yet upserted must stay as audited in both generations."""
    monkeypatch.setattr(double_buffer, "COPY_BELOW_BYTES", 0)
    write_shard(audited, "b", 5, version="v5")
    with audit_writer(audited.audit_db, audited) as writer:
        writer.upsert("b")
    write_shard(audited, "b", 7, version="v7")  # the lake moves on; label_audit for b has not run
    write_shard(audited, "c", 4)
    for shard in "ca":  # two writes: each generation replays the other's
        with audit_writer(audited.audit_db, audited) as writer:
            writer.upsert(shard)
    con = open_for_audit(audited)
    versions = audit_query(con, "SELECT shard, labeler_version, count(*) FROM labels GROUP BY ALL ORDER BY 1")
    assert versions.rows() == [("a", "v1", 30), ("b", "v5", 5), ("c", "v1", 4)]


def _vacuum_tasks(writer) -> int:
    return int(writer.query("SELECT current_setting('max_vacuum_tasks')")[0][0])


def test_only_a_write_that_deleted_rows_vacuums(audited, monkeypatch):
    """Appends leave DuckDB's checkpoint vacuum off (it merged row groups for seconds at 1M documents); a
    relabelled shard deletes its old rows, and the vacuum comes back so their space is reclaimed."""
    monkeypatch.setattr(double_buffer, "COPY_BELOW_BYTES", 0)
    write_shard(audited, "c", 4)
    with audit_writer(audited.audit_db, audited) as writer:
        writer.upsert("c")
        writer.record_checkpoints()  # the manifests did not change: the table is not rewritten
        assert _vacuum_tasks(writer) == 0
    write_shard(audited, "b", 7, version="v7")
    with audit_writer(audited.audit_db, audited) as writer:
        assert _vacuum_tasks(writer) == 0  # replaying shard c's append deletes nothing
        writer.upsert("b")
        assert _vacuum_tasks(writer) > 0
