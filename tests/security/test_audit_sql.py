"""Issue 17, part 1: auditors' SQL cannot write anything, anywhere, and cannot run away.

The probe that found the hole: EXPLAIN ANALYZE COPY ... TO '<root>/labels/<shard>.parquet' rewrote a
shard's labels through the "read-only" audit connection.
"""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli
from condpt_dagster.core.lake import DataLake
from condpt_dagster.stages.audit_access import AuditQueryError, audit_query, open_for_audit
from condpt_dagster.stages.label_audit import writable_copy

ROWS = 200


@pytest.fixture
def lake(tmp_path) -> DataLake:
    lake = DataLake.at(tmp_path / "data")
    lake.labels_dir.mkdir(parents=True)
    (lake.labels_dir / "s.parquet").write_bytes(b"original")
    with writable_copy(lake.audit_db) as con:
        con.execute(f"INSERT INTO labels (shard, id, rating) SELECT 's', 'd' || i, 'G' FROM range({ROWS}) t(i)")
    return lake


def write_attempts(lake: DataLake) -> list[str]:
    target = lake.labels_dir / "s.parquet"
    inbox = lake.inbox / "injected.jsonl"
    return [
        f"EXPLAIN ANALYZE COPY (SELECT * REPLACE ('R' AS rating) FROM labels) TO '{target}' (FORMAT parquet)",
        f"COPY (SELECT 1 AS text) TO '{inbox}'",
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS text) TO '{inbox}'",
        f"ATTACH '{lake.root / 'other.duckdb'}' AS o",
        "INSTALL httpfs",
        "CREATE TABLE x AS SELECT 1",
    ]


def test_the_allow_list_refuses_every_write(lake):
    con = open_for_audit(lake)
    for sql in write_attempts(lake):
        with pytest.raises(AuditQueryError):
            audit_query(con, sql)
    assert (lake.labels_dir / "s.parquet").read_bytes() == b"original" and not lake.inbox.exists()


def test_writes_fail_even_without_the_allow_list(lake):
    """The connection itself cannot touch files: the allow-list is the second layer, not the only one."""
    con = open_for_audit(lake)
    for sql in write_attempts(lake):
        with pytest.raises(AuditQueryError, match=r"not allowed|SQL error"):
            audit_query(con, sql, check=False)
    assert (lake.labels_dir / "s.parquet").read_bytes() == b"original" and not lake.inbox.exists()
    with pytest.raises(duckdb.Error):  # and the setting cannot be switched back on
        con.execute("SET enable_external_access = true")


@pytest.mark.parametrize(
    ("sql", "allowed"),
    [
        ("SELECT count(*) FROM labels", True),
        ("WITH r AS (SELECT rating FROM labels) SELECT rating, count(*) FROM r GROUP BY 1", True),
        ("DESCRIBE labels", True),
        ("EXPLAIN SELECT * FROM labels", True),
        ("SELECT * FROM range(3)", True),
        ("EXPLAIN ANALYZE SELECT * FROM labels", False),
        ("explain   analyse SELECT 1", False),
        ("/* hidden */ EXPLAIN ANALYZE SELECT 1", False),
        ("SELECT * FROM read_parquet('x.parquet')", False),
        ("SELECT * FROM labels, glob('*')", False),
        ("PRAGMA version", False),
        ("SET threads = 1", False),
    ],
)
def test_allow_list_is_parser_based(lake, sql, allowed):
    con = open_for_audit(lake)
    if allowed:
        audit_query(con, sql)
    else:
        with pytest.raises(AuditQueryError):
            audit_query(con, sql)


def test_runaway_query_is_stopped_by_the_timeout(lake):
    con = open_for_audit(lake)
    with pytest.raises(AuditQueryError, match="stopped after"):
        audit_query(con, "SELECT count(*) FROM range(100000000000) a, range(1000) b", timeout=0.5)
    assert audit_query(con, "SELECT count(*) FROM labels").item() == ROWS  # the connection still works


def test_row_limit_and_streamed_output(lake, tmp_path):
    runner = CliRunner()
    base = ["audit", "sql", "SELECT id FROM labels ORDER BY id", "--data", str(lake.root), "--format", "csv"]
    shown = runner.invoke(cli, [*base, "--max-rows", "10"])
    assert shown.exit_code == 0, shown.output
    assert len(shown.stdout.strip().splitlines()) == 11  # header + 10 rows
    assert "first 10 rows shown" in shown.stderr
    out = tmp_path / "all.csv"
    written = runner.invoke(cli, [*base, "--max-rows", "10", "--output", str(out)])
    assert written.exit_code == 0 and len(out.read_text().strip().splitlines()) == ROWS + 1


@pytest.mark.parametrize(
    ("sql", "message"),
    [("SELEC 1", "SQL error"), ("SELECT nope FROM labels", "SQL error"), ("SELECT * FROM missing", "SQL error")],
)
def test_sql_mistakes_print_duckdbs_message_without_a_traceback(lake, sql, message):
    result = CliRunner().invoke(cli, ["audit", "sql", sql, "--data", str(lake.root)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
