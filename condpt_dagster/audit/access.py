"""Read-only access to ``audit.duckdb`` for auditors: what ``condpt audit`` runs.

Two layers keep an auditor's SQL from writing anything or reading beyond the lake's own tables:
1. by construction, the connection is read-only and opened with ``enable_external_access = false`` (and
   the configuration locked): DuckDB refuses every file operation — COPY ... TO, ATTACH, read_parquet,
   INSTALL — whatever the statement is. Everything auditors query lives in tables of ``audit.duckdb``.
   (The bucket views of an object-store lake need external access on; there layer 2 alone decides.)
2. an allow-list on DuckDB's own parse of the statement: one SELECT (WITH ... SELECT, DESCRIBE, SUMMARIZE
   parse as SELECT) or a plain EXPLAIN of one. Refused: EXPLAIN ANALYZE (it executes its statement) and
   EXPLAIN options, data-modifying CTEs (``WITH x AS (INSERT ... RETURNING *)``), table functions other
   than pure generators, and any relation that is not a table or view of the connection or a CTE of the
   statement — so a replacement scan (``FROM '/etc/passwd'``, ``FROM 's3://bucket/other/x.csv'``) is
   refused before DuckDB sees it.

Every query runs under a deadline (the connection is interrupted when it passes), a memory limit and a
thread count (``[audit]`` settings), and results can be fetched with a row limit or streamed in batches.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import polars as pl

from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import AuditSettings

ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})  # generate rows, touch nothing
READ_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_EXPLAIN = re.compile(r"^\s*EXPLAIN\b", re.IGNORECASE)
DEFAULT_LIMITS = AuditSettings()
DEFAULT_TIMEOUT = DEFAULT_LIMITS.timeout
LOCK_RETRIES = 5


class AuditQueryError(ValueError):
    """An auditor's statement that is refused or fails; the message is DuckDB's or says why."""


def _limits(settings: AuditSettings) -> dict[str, Any]:
    # No scans of Python variables in the caller's scope: auditors read the database's relations only.
    return {"memory_limit": settings.memory_limit, "threads": settings.threads, "python_enable_replacements": False}


def open_for_audit(lake: DataLake, settings: AuditSettings = DEFAULT_LIMITS) -> duckdb.DuckDBPyConnection:
    if not lake.audit_db.is_file():
        raise FileNotFoundError(f"{lake.audit_db}: no audit database yet; materialize the label_audit asset")
    config = {"enable_external_access": False, "lock_configuration": True, **_limits(settings)}
    path = str(lake.audit_db)
    for attempt in range(LOCK_RETRIES - 1):
        try:
            return duckdb.connect(path, read_only=True, config=config)
        except duckdb.IOException as exc:
            # The writer may have taken the file this name pointed to a moment ago (it publishes the other
            # generation first, core/double_buffer.py): the name already points to the new one, so reopen.
            if "lock" not in str(exc).lower():
                raise
            time.sleep(0.05 * (attempt + 1))
    return duckdb.connect(path, read_only=True, config=config)


# An object-store lake's Parquet, queried where it lies (no audit.duckdb needed): view -> files under the root.
BUCKET_VIEWS = {
    "documents": "clean/*.parquet",
    "removed": "removed/*.parquet",
    "quarantine": "quarantine/*.parquet",
    "labels": "labels/*.parquet",
    "conditioned": "conditioned/*.parquet",
}


def open_bucket_views(url: str, settings: AuditSettings = DEFAULT_LIMITS) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose views read the lake's Parquet in the bucket through fsspec (s3fs), one view
    per stage output, each row with the ``filename`` it came from. Auditors' statements still pass
    :func:`check_statement`, so they can only SELECT from these views."""
    from condpt_dagster.core.object_store import Bucket

    bucket = Bucket(url)
    present = {rel.split("/")[0] for rel in bucket.objects() if rel.endswith(".parquet")}
    con = duckdb.connect(config=_limits(settings))
    con.register_filesystem(bucket.fs)
    for view, pattern in BUCKET_VIEWS.items():
        if pattern.split("/")[0] in present:  # a stage with no output yet has no view
            source = f"{url.rstrip('/')}/{pattern}".replace("'", "''")
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{source}', filename = true, union_by_name = true)"
            )
    con.execute("SET lock_configuration = true")
    return con


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of a serialized statement, depth first."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)


def _relations(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    """(database, schema, name), lower-cased, of every table and view the connection holds."""
    rows = con.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views()"
    ).fetchall()
    return {tuple(part.lower() for part in row) for row in rows}


def _unknown_relations(con: duckdb.DuckDBPyConnection, nodes: list[dict[str, Any]]) -> list[str]:
    ctes = {e["key"].lower() for n in nodes if isinstance(n.get("cte_map"), dict) for e in n["cte_map"]["map"]}
    known = _relations(con)
    unknown = []
    for ref in (n for n in nodes if n.get("type") == "BASE_TABLE"):
        database, schema, name = (ref.get(k, "").lower() for k in ("catalog_name", "schema_name", "table_name"))
        if not (database or schema) and name in ctes:
            continue
        # an unqualified name may live in any schema
        if not any(name == n and schema in ("", s) and database in ("", d) for d, s, n in known):
            unknown.append(ref.get("table_name", ""))
    return unknown


def _check_select(con: duckdb.DuckDBPyConnection, query: str) -> None:
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    if parsed.get("error"):
        raise AuditQueryError(f"only read queries are allowed: {parsed.get('error_message', 'not a SELECT')}")
    nodes = list(_nodes(parsed["statements"]))
    writes = sorted({n["type"] for n in nodes if "cte_map" in n and n.get("type") not in READ_QUERY_NODES})
    if writes:
        raise AuditQueryError(f"only read queries are allowed; the statement holds {', '.join(writes)}")
    functions = {n["function"]["function_name"] for n in nodes if n.get("type") == "TABLE_FUNCTION"}
    if functions - ALLOWED_TABLE_FUNCTIONS:
        raise AuditQueryError(
            f"table function(s) {', '.join(sorted(functions - ALLOWED_TABLE_FUNCTIONS))} are not allowed: "
            "auditors query the tables and views of the audit database"
        )
    unknown = _unknown_relations(con, nodes)
    if unknown:
        raise AuditQueryError(
            f"{', '.join(map(repr, unknown))}: not a table or view of the audit database; auditors read only "
            "those (files and other bucket objects are not readable)"
        )


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """The allow-list: exactly one SELECT, or a plain EXPLAIN of one; every refusal is one AuditQueryError."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise AuditQueryError(f"SQL error: {_first_line(exc)}") from exc
    if len(statements) != 1:
        raise AuditQueryError(f"give exactly one statement (got {len(statements)})")
    statement = statements[0]
    kind = str(statement.type).split(".")[-1]
    query = statement.query
    if kind == "EXPLAIN":
        match = _EXPLAIN.match(query)
        try:
            inner = con.extract_statements(query[match.end() :]) if match else []
        except duckdb.Error:
            inner = []
        if len(inner) != 1 or str(inner[0].type).split(".")[-1] != "SELECT":
            raise AuditQueryError(
                "only a plain EXPLAIN of one SELECT is allowed (EXPLAIN ANALYZE runs its statement; EXPLAIN "
                "options and comments before EXPLAIN are not accepted)"
            )
        kind, query = "SELECT", inner[0].query
    if kind != "SELECT":
        raise AuditQueryError(f"only read queries (SELECT, EXPLAIN SELECT) are allowed; got {kind}")
    _check_select(con, query)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def _deadline(con: duckdb.DuckDBPyConnection, seconds: float | None) -> Iterator[None]:
    """Interrupt the connection when ``seconds`` pass; translate DuckDB errors into AuditQueryError."""
    timer = threading.Timer(seconds, con.interrupt) if seconds else None
    if timer:
        timer.start()
    try:
        yield
    except duckdb.InterruptException as exc:
        raise AuditQueryError(f"query stopped after {seconds:g} s (raise --timeout)") from exc
    except duckdb.PermissionException as exc:
        raise AuditQueryError(f"file access is not allowed to auditors: {_first_line(exc)}") from exc
    except duckdb.OutOfMemoryException as exc:
        raise AuditQueryError(f"query needs more memory than [audit] memory_limit allows: {_first_line(exc)}") from exc
    except duckdb.Error as exc:
        raise AuditQueryError(f"SQL error: {_first_line(exc)}") from exc
    finally:
        if timer:
            timer.cancel()


def audit_query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list | None = None,
    *,
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_rows: int | None = None,
) -> pl.DataFrame:
    """Run one read-only statement; at most ``max_rows + 1`` rows come back (one more shows truncation)."""
    if check:
        check_statement(con, sql)
    with con.cursor() as cursor, _deadline(cursor, timeout):  # a cursor per query: nothing left unfinished
        result = cursor.sql(sql, params=params or None)
        if max_rows is None:
            return result.pl()
        reader = result.to_arrow_reader(max(1, min(max_rows + 1, 100_000)))
        frames, rows = [], 0
        for batch in reader:
            frames.append(pl.from_arrow(batch))
            rows += batch.num_rows
            if rows > max_rows:
                break
        frame = pl.concat(frames) if frames else pl.from_arrow(reader.schema.empty_table())
        return frame.head(max_rows + 1)


def stream_query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    batch_rows: int = 50_000,
) -> Iterator[pl.DataFrame]:
    """Every row of one checked statement, in batches, so large results never sit in memory at once."""
    check_statement(con, sql)
    with con.cursor() as cursor, _deadline(cursor, timeout):
        for batch in cursor.sql(sql, params=params or None).to_arrow_reader(batch_rows):
            yield pl.from_arrow(batch)


_DIFF_FILTER = "WHERE from_version = $1 AND to_version = $2 AND ($3 IS NULL OR shard = $3)"
CANNED = {
    "tags": "SELECT kind, tag, documents, mean_score FROM tag_distribution WHERE kind = ? LIMIT ?",
    "ratings": "SELECT * FROM rating_distribution",
    "ratings_by_shard": "SELECT shard, rating, count(*) AS documents FROM labels GROUP BY shard, rating "
    "ORDER BY shard, documents DESC",
    "lineage": "SELECT shard, count(DISTINCT id) AS documents, count(DISTINCT block) AS blocks, "
    "list(DISTINCT labeler_version) AS labeler_versions, any_value(labels_version) AS pinned_labels_version, "
    "any_value(data_version) AS data_version "
    "FROM training_lineage WHERE run = ? GROUP BY shard ORDER BY shard",
    "versions": "SELECT * FROM labeler_versions",
    "removed_by_reason": "SELECT reason, sum(documents)::BIGINT AS documents, count(DISTINCT shard) AS shards "
    "FROM removal_reasons GROUP BY reason ORDER BY documents DESC, reason",
    "removed_by_family": "SELECT family, sum(documents)::BIGINT AS documents, count(DISTINCT shard) AS shards "
    "FROM removal_reasons GROUP BY family ORDER BY documents DESC, family",
    "removed_by_shard": "SELECT shard, family, sum(documents)::BIGINT AS documents FROM removal_reasons "
    "GROUP BY shard, family ORDER BY shard, documents DESC, family",
    # condpt audit diff: parameters from_version, to_version, shard (NULL = every shard), twice
    "diff_summary": "SELECT count(*) AS documents, "
    "count(*) FILTER (from_rating IS DISTINCT FROM to_rating) AS rating_changed, "
    "count(*) FILTER (from_format IS DISTINCT FROM to_format) AS format_changed, "
    "count(*) FILTER (from_sentiment IS DISTINCT FROM to_sentiment) AS sentiment_changed, "
    "count(*) FILTER (from_topic IS DISTINCT FROM to_topic) AS top_topic_changed, "
    "count(*) FILTER (len(tags_gained) + len(tags_lost) > 0) AS tags_changed "
    f"FROM label_changes {_DIFF_FILTER}",
    "diff_confusion": "SELECT field, from_value, to_value, count(*) AS documents FROM ("
    f"SELECT 'rating' AS field, from_rating AS from_value, to_rating AS to_value FROM label_changes {_DIFF_FILTER} "
    f"UNION ALL SELECT 'format', from_format, to_format FROM label_changes {_DIFF_FILTER} "
    f"UNION ALL SELECT 'sentiment', from_sentiment, to_sentiment FROM label_changes {_DIFF_FILTER} "
    f"UNION ALL SELECT 'top topic', from_topic, to_topic FROM label_changes {_DIFF_FILTER}"
    ") GROUP BY ALL ORDER BY field, documents DESC, from_value, to_value",
    "diff_tags": "SELECT change, tag, count(*) AS documents FROM ("
    f"SELECT 'gained' AS change, unnest(tags_gained) AS tag FROM label_changes {_DIFF_FILTER} "
    f"UNION ALL SELECT 'lost', unnest(tags_lost) FROM label_changes {_DIFF_FILTER}"
    ") GROUP BY ALL ORDER BY documents DESC, change, tag LIMIT $4",
}
