"""Issue 17, part 1: auditors' SQL cannot write anything, anywhere, and cannot run away.

The probe that found the hole: EXPLAIN ANALYZE COPY ... TO '<root>/labels/<shard>.parquet' rewrote a
shard's labels through the "read-only" audit connection.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from condpt_dagster.audit.access import AuditQueryError, audit_query, open_for_audit
from condpt_dagster.cli import main as cli
from condpt_dagster.core.lake import DataLake
from condpt_dagster.stages.label_audit import audit_writer

ROWS = 200


@pytest.fixture
def lake(tmp_path) -> DataLake:
    lake = DataLake.at(tmp_path / "data")
    lake.labels_dir.mkdir(parents=True)
    (lake.labels_dir / "s.parquet").write_bytes(b"original")
    with audit_writer(lake.audit_db, lake) as writer:
        writer.untracked.execute(
            f"INSERT INTO labels (shard, id, rating) SELECT 's', 'd' || i, 'G' FROM range({ROWS}) t(i)"
        )
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
    [
        ("SELEC 1", "SQL error"),
        ("SELECT nope FROM labels", "SQL error"),
        ("SELECT * FROM missing", "'missing': not a table or view"),
        # issue 28, hole 4: refusals that printed tracebacks or passed the allow-list
        ("EXPLAIN (FORMAT json) SELECT * FROM labels", "only a plain EXPLAIN"),
        ("EXPLAIN /*x*/ ANALYZE SELECT * FROM labels", "only a plain EXPLAIN"),
        ("WITH x AS (INSERT INTO labels (id) VALUES ('z') RETURNING *) SELECT * FROM x", "INSERT_QUERY_NODE"),
        ("WITH x AS (DELETE FROM labels RETURNING *) SELECT count(*) FROM x", "DELETE_QUERY_NODE"),
    ],
)
def test_sql_mistakes_and_refusals_are_one_line_without_a_traceback(lake, sql, message):
    result = CliRunner().invoke(cli, ["audit", "sql", sql, "--data", str(lake.root)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


# ---------------------------------------------------------------- issue 28, holes 2-4: reads, writes, resources


def test_replacement_scans_of_files_are_refused_and_ctes_and_qualified_tables_are_not(lake, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nhunter2\n")
    con = open_for_audit(lake)
    for sql in (f"SELECT * FROM '{secret}'", "SELECT * FROM 's3://bucket/other-prefix/x.csv'", f"FROM '{secret}'"):
        with pytest.raises(AuditQueryError, match="not a table or view"):
            audit_query(con, sql)
    assert audit_query(con, "SELECT count(*) FROM main.labels").item() == ROWS
    assert audit_query(con, "WITH labels AS (SELECT 1 AS a) SELECT * FROM labels").item() == 1


def test_bucket_views_read_only_the_lakes_own_objects(tmp_path):
    """With --bucket external access must stay on (the views read the bucket), so the allow-list alone refuses
    local files and the bucket's other objects."""
    import uuid

    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from condpt_dagster.audit.access import open_bucket_views

    url = f"memory://audit-{uuid.uuid4().hex[:8]}/lake"
    fs = fsspec.filesystem("memory")
    with fs.open(f"{url}/labels/s.parquet", "wb") as fh:
        pq.write_table(pa.table({"id": ["a", "b"], "rating": ["G", "R"]}), fh)
    with fs.open(url.replace("/lake", "/other-prefix/x.csv"), "wb") as fh:
        fh.write(b"secret\n42\n")
    local = tmp_path / "local.csv"
    local.write_text("secret\n42\n")
    con = open_bucket_views(url)
    assert audit_query(con, "SELECT count(*) FROM labels").item() == 2
    assert audit_query(con, "SELECT current_setting('memory_limit')").item() == "1.8 GiB"  # [audit] 2GB default
    for sql in (f"SELECT * FROM '{local}'", f"SELECT * FROM '{url.replace('/lake', '/other-prefix/x.csv')}'"):
        with pytest.raises(AuditQueryError, match="not a table or view"):
            audit_query(con, sql)


def test_output_never_lands_in_the_lake_nor_over_a_file_without_force(lake, tmp_path):
    runner = CliRunner()
    base = ["audit", "sql", "SELECT 1 AS one", "--data", str(lake.root), "--format", "csv", "--output"]
    database = lake.audit_db.read_bytes()
    for target in (lake.audit_db, lake.labels_dir / "s.parquet", lake.root / "new.csv"):
        result = runner.invoke(cli, [*base, str(target), "--force"])
        assert result.exit_code == 1 and "inside the lake" in result.output, result.output
    assert lake.audit_db.read_bytes() == database and not (lake.root / "new.csv").exists()
    assert runner.invoke(cli, ["audit", "sql", "SELECT count(*) FROM labels", "--data", str(lake.root)]).exit_code == 0
    existing = tmp_path / "report.csv"
    existing.write_text("keep me")
    refused = runner.invoke(cli, [*base, str(existing)])
    assert refused.exit_code == 1 and "file exists; pass --force" in refused.output
    assert existing.read_text() == "keep me"
    assert runner.invoke(cli, [*base, str(existing), "--force"]).exit_code == 0
    assert existing.read_text().splitlines() == ["one", "1"]


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e9"])
def test_a_deadline_cannot_be_switched_off(lake, timeout):
    result = CliRunner().invoke(cli, ["audit", "sql", "SELECT 1", "--data", str(lake.root), "--timeout", timeout])
    assert result.exit_code == 2 and "is not a number of seconds" in result.output


def test_memory_and_threads_come_from_the_audit_settings(lake, tmp_path, monkeypatch):
    config = tmp_path / "condpt.toml"
    config.write_text('[audit]\nmemory_limit = "64MB"\nthreads = 1\n')
    monkeypatch.setenv("CONDPT_CONFIG", str(config))
    runner = CliRunner()
    shown = runner.invoke(
        cli,
        ["audit", "sql", "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t",
         "--data", str(lake.root), "--format", "json"],
    )  # fmt: skip
    assert shown.exit_code == 0 and json.loads(shown.output) == [{"m": "61.0 MiB", "t": 1}], shown.output
    big = "SELECT list(i) FROM range(30000000) t(i)"  # ~240 MB in one list: over 64 MB
    result = runner.invoke(cli, ["audit", "sql", big, "--data", str(lake.root)])
    assert result.exit_code == 1 and "memory" in result.output.lower() and "Traceback" not in result.output
    config.write_text('[audit]\nmemory_limit = "lots"\n')
    refused = runner.invoke(cli, ["audit", "sql", "SELECT 1", "--data", str(lake.root)])
    assert refused.exit_code == 1 and "[audit] memory_limit" in refused.output
