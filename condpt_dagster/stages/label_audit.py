"""Stage ``label_audit``: the auditors' DuckDB (``audit.duckdb``).

Tables of documents (the clean ones), removed documents, labels, tags, block spans and checkpoints, with views
for auditors.

Writers never open the published file: each upsert writes the unpublished one of two generations, under an
exclusive file lock, and publishes it by an atomic rename (:mod:`condpt_dagster.core.double_buffer`: a write
costs what it changes, not the size of the database). Readers open the published file read-only, so they
never meet a writer's lock and always see a complete snapshot (a reader that opened the previous file keeps
reading it until it reconnects).

Auditors read it through :mod:`condpt_dagster.audit.access`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from condpt_dagster.audit.card import EXCERPT_CHARS
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.double_buffer import DuckDBWrite, double_buffered_write
from condpt_dagster.core.faults import failpoint
from condpt_dagster.core.label_history import history
from condpt_dagster.core.lake import DataLake

# DuckDB's checkpoint vacuums: it merges the small row groups each shard's append leaves, and that work grows
# with the table (at 1M documents two upserts in every ~17 took 7-10 s instead of ~1.3 s, one per generation,
# whenever a table's appends filled a row group). A write that only appends needs no vacuum; one that deleted
# rows (a relabelled shard, or its replay) turns it back on, so their space is reclaimed (`_delete`;
# BENCHMARKS.md "Scale, part 9").
APPEND_ONLY = "SET max_vacuum_tasks = 0;"
SCHEMA = (
    APPEND_ONLY
    + """
CREATE TABLE IF NOT EXISTS documents (shard VARCHAR, id VARCHAR, source VARCHAR, chars BIGINT, line BIGINT);
CREATE TABLE IF NOT EXISTS labels (
    shard VARCHAR, id VARCHAR, rating VARCHAR, sfw BOOLEAN, sentiment VARCHAR, language VARCHAR, synopsis VARCHAR,
    topics VARCHAR[], tags VARCHAR[], labeler VARCHAR, labeler_version VARCHAR, format VARCHAR);
ALTER TABLE labels ADD COLUMN IF NOT EXISTS format VARCHAR;  -- databases written before the format field
-- what `condpt audit show` reads (databases written before it get the columns, filled at the next upsert)
ALTER TABLE documents ADD COLUMN IF NOT EXISTS excerpt VARCHAR;
ALTER TABLE labels ADD COLUMN IF NOT EXISTS length VARCHAR;
ALTER TABLE labels ADD COLUMN IF NOT EXISTS readability FLOAT;
ALTER TABLE labels ADD COLUMN IF NOT EXISTS scores VARCHAR;
ALTER TABLE labels ADD COLUMN IF NOT EXISTS error VARCHAR;
CREATE TABLE IF NOT EXISTS label_history (
    shard VARCHAR, labeler_version VARCHAR, written_at VARCHAR, id VARCHAR, rating VARCHAR, format VARCHAR,
    sentiment VARCHAR, topics VARCHAR[], tags VARCHAR[], synopsis VARCHAR, labeler VARCHAR);
CREATE TABLE IF NOT EXISTS removed (
    shard VARCHAR, id VARCHAR, line BIGINT, reason VARCHAR, duplicate_of VARCHAR, duplicate_shard VARCHAR,
    similarity DOUBLE);
CREATE TABLE IF NOT EXISTS tags (shard VARCHAR, id VARCHAR, kind VARCHAR, tag VARCHAR, score DOUBLE);
CREATE TABLE IF NOT EXISTS tag_pairs (shard VARCHAR, tag_a VARCHAR, tag_b VARCHAR, documents BIGINT);
CREATE TABLE IF NOT EXISTS block_spans (
    shard VARCHAR, block BIGINT, id VARCHAR, token_start INTEGER, token_end INTEGER, doc_start INTEGER,
    doc_tokens INTEGER, header_tokens INTEGER);
CREATE TABLE IF NOT EXISTS checkpoints (
    run VARCHAR, shard VARCHAR, data_version VARCHAR, tokenizer_sha256 VARCHAR, steps BIGINT, final_loss DOUBLE);
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS labels_version VARCHAR;  -- pinned by the manifest's lineage

CREATE OR REPLACE VIEW tag_distribution AS
    SELECT kind, tag, count(*) AS documents, round(avg(score), 4) AS mean_score
    FROM tags GROUP BY kind, tag ORDER BY documents DESC, tag;
CREATE OR REPLACE VIEW tag_by_shard AS
    SELECT shard, kind, tag, count(*) AS documents FROM tags GROUP BY shard, kind, tag ORDER BY shard, documents DESC;
CREATE OR REPLACE VIEW rating_distribution AS
    SELECT rating, count(*) AS documents, round(count(*) / sum(count(*)) OVER (), 4) AS share
    FROM labels GROUP BY rating ORDER BY documents DESC;
CREATE OR REPLACE VIEW format_distribution AS
    SELECT format, count(*) AS documents, round(count(*) / sum(count(*)) OVER (), 4) AS share
    FROM labels GROUP BY format ORDER BY documents DESC;
-- Why clean_documents removed documents: per shard, reason family (quality filter, exact_duplicate,
-- near_duplicate) and rule.
CREATE OR REPLACE VIEW removal_reasons AS
    SELECT shard, split_part(reason, ':', 1) AS family, reason, count(*) AS documents
    FROM removed GROUP BY ALL ORDER BY shard, documents DESC, reason;
CREATE OR REPLACE VIEW tag_cooccurrence AS
    SELECT tag_a, tag_b, sum(documents)::BIGINT AS documents FROM tag_pairs
    GROUP BY tag_a, tag_b ORDER BY documents DESC, tag_a, tag_b;
CREATE OR REPLACE VIEW labeler_versions AS
    SELECT labeler, labeler_version, count(DISTINCT shard) AS shards, count(*) AS documents,
           list(DISTINCT shard ORDER BY shard) AS shard_list
    FROM labels GROUP BY labeler, labeler_version ORDER BY labeler, labeler_version;
-- What each checkpoint learned from: the label rows of the labeler version its manifest pins (label_history),
-- the current labels only for manifests written before pinning. Block positions are the current blocks'.
CREATE OR REPLACE VIEW training_lineage AS
    SELECT c.run, s.shard, s.block, s.id, s.token_start, s.token_end,
           coalesce(h.rating, l.rating) AS rating, coalesce(h.format, l.format) AS format,
           coalesce(h.topics, l.topics) AS topics, coalesce(h.tags, l.tags) AS tags,
           coalesce(h.synopsis, l.synopsis) AS synopsis, coalesce(h.labeler, l.labeler) AS labeler,
           coalesce(h.labeler_version, l.labeler_version) AS labeler_version, c.labels_version, c.data_version
    FROM checkpoints c JOIN block_spans s ON s.shard = c.shard
    LEFT JOIN label_history h ON h.shard = s.shard AND h.id = s.id AND h.labeler_version = c.labels_version
    LEFT JOIN labels l ON l.shard = s.shard AND l.id = s.id AND h.id IS NULL;
-- Every document's labels under two kept labeler versions, side by side (condpt audit diff).
CREATE OR REPLACE VIEW label_changes AS
    SELECT a.shard, a.id, a.labeler_version AS from_version, b.labeler_version AS to_version,
           a.rating AS from_rating, b.rating AS to_rating, a.format AS from_format, b.format AS to_format,
           a.sentiment AS from_sentiment, b.sentiment AS to_sentiment,
           coalesce(a.topics[1], '(none)') AS from_topic, coalesce(b.topics[1], '(none)') AS to_topic,
           list_filter(b.tags, lambda t: NOT list_contains(a.tags, t)) AS tags_gained,
           list_filter(a.tags, lambda t: NOT list_contains(b.tags, t)) AS tags_lost
    FROM label_history a JOIN label_history b
        ON a.shard = b.shard AND a.id = b.id AND a.labeler_version <> b.labeler_version;
"""
)


SHARD_TABLES = ("documents", "removed", "labels", "label_history", "tags", "tag_pairs", "block_spans")
SHARD_KEY, CHECKPOINTS_KEY = "shard:", "checkpoints"  # what a write replays (core/double_buffer.py)


class AuditWriter:
    """A write session on ``audit.duckdb``: every write is keyed, so the other generation can replay it."""

    def __init__(self, write: DuckDBWrite, lake: DataLake) -> None:
        self._write, self._lake = write, lake

    def upsert(self, shard: str) -> dict[str, int]:
        self._write.wrote(SHARD_KEY + shard)
        return upsert_shard(self._write.con, self._lake, shard)

    def record_checkpoints(self) -> int:
        rows = checkpoint_rows(self._lake)
        if replace_checkpoints(self._write.con, rows):  # unchanged: nothing for the other generation to replay
            self._write.wrote(CHECKPOINTS_KEY)
        return len(rows)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self._write.con.execute(sql, params or []).fetchall()

    @property
    def untracked(self) -> duckdb.DuckDBPyConnection:
        """The raw connection, for writes no key describes (tests, repairs): the next write then recopies."""
        self._write.untracked = True
        return self._write.con


def _replay(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Copy one keyed write's rows from the published generation (core/double_buffer.py)."""
    if key == CHECKPOINTS_KEY:
        _delete(con, "DELETE FROM checkpoints")
        con.execute("INSERT INTO checkpoints BY NAME SELECT * FROM published.checkpoints")
    elif key.startswith(SHARD_KEY):
        shard = key.removeprefix(SHARD_KEY)
        _delete_shard(con, shard)
        for table in SHARD_TABLES:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM published.{table} WHERE shard = ?", [shard])
    else:
        raise ValueError(f"unknown audit journal key {key!r}")


@contextmanager
def audit_writer(db_path: Path, lake: DataLake) -> Iterator[AuditWriter]:
    """Write ``audit.duckdb``; readers see the previous snapshot until the block succeeds, then the new one."""
    with double_buffered_write(db_path, SCHEMA, _replay) as write:
        yield AuditWriter(write, lake)


def upsert_shard(con: duckdb.DuckDBPyConnection, lake: DataLake, shard: str) -> dict[str, int]:
    """Replace one shard's rows in every table, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        _delete_shard(con, shard)
        con.execute(
            "INSERT INTO documents BY NAME SELECT ? AS shard, id, source, length(text) AS chars, line, "
            "left(text, ?) AS excerpt FROM read_parquet(?)",
            [shard, EXCERPT_CHARS, str(lake.clean(shard))],
        )
        con.execute(
            "INSERT INTO removed BY NAME SELECT ? AS shard, id, line, reason, duplicate_of, duplicate_shard, "
            "similarity FROM read_parquet(?)",
            [shard, str(lake.removed(shard))],
        )
        con.execute(
            "INSERT INTO labels BY NAME SELECT ? AS shard, id, rating, sfw, sentiment, format, language, synopsis, "
            "topics, tags, labeler, labeler_version, length, readability, scores, error FROM read_parquet(?)",
            [shard, str(lake.labels(shard))],
        )
        con.execute(
            """
            INSERT INTO tags
            WITH l AS (SELECT id, rating, sentiment, format, topics, tags, scores::JSON AS s FROM read_parquet(?))
            SELECT ?, id, 'tag', t, TRY_CAST(s ->> ('tag:' || t) AS DOUBLE)
                FROM (SELECT id, s, unnest(tags) AS t FROM l)
            UNION ALL
            SELECT ?, id, 'topic', t, TRY_CAST(s ->> ('topic:' || t) AS DOUBLE)
                FROM (SELECT id, s, unnest(topics) AS t FROM l)
            UNION ALL SELECT ?, id, 'rating', rating, TRY_CAST(s ->> 'rating' AS DOUBLE) FROM l
            UNION ALL SELECT ?, id, 'sentiment', sentiment, TRY_CAST(s ->> 'sentiment' AS DOUBLE) FROM l
            UNION ALL SELECT ?, id, 'format', format, TRY_CAST(s ->> ('format:' || format) AS DOUBLE) FROM l
            """,
            [str(lake.labels(shard)), shard, shard, shard, shard, shard],
        )
        _count_tag_pairs(con, shard)
        failpoint("label_audit:upsert")  # mid-transaction, on the private copy
        _load_history(con, lake, shard)
        spans = lake.blocks(shard).spans
        if spans.is_file():
            con.execute(
                'INSERT INTO block_spans SELECT ?, block, id, start, "end", doc_start, doc_tokens, header_tokens '
                "FROM read_parquet(?)",
                [shard, str(spans)],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return {
        t: con.execute(f"SELECT count(*) FROM {t} WHERE shard = ?", [shard]).fetchone()[0]
        for t in ("documents", "removed", "labels", "tags", "block_spans")
    }


def _delete(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> None:
    """Run a DELETE; if it deleted rows, this session's checkpoints vacuum again (``APPEND_ONLY``)."""
    if con.execute(sql, params or []).fetchone()[0]:
        con.execute("RESET max_vacuum_tasks")


def _delete_shard(con: duckdb.DuckDBPyConnection, shard: str) -> None:
    for table in SHARD_TABLES:
        _delete(con, f"DELETE FROM {table} WHERE shard = ?", [shard])


def _count_tag_pairs(con: duckdb.DuckDBPyConnection, shard: str) -> None:
    """Keyword-tag pairs per document, counted once per shard at upsert (the co-occurrence view sums them:
    a self-join over every tag row at query time took 1.8 s at 1M documents)."""
    con.execute(
        """
        INSERT INTO tag_pairs
        SELECT ?, a.tag, b.tag, count(*) FROM tags a JOIN tags b ON a.id = b.id AND a.tag < b.tag
        WHERE a.shard = ? AND b.shard = ? AND a.kind = 'tag' AND b.kind = 'tag' GROUP BY a.tag, b.tag
        """,
        [shard, shard, shard],
    )


def _load_history(con: duckdb.DuckDBPyConnection, lake: DataLake, shard: str) -> None:
    """Every kept labeler version of the shard's labels (labels/_history), for pinned lineage and diffs."""
    for entry in history(lake, shard):
        version = str(entry["labeler_version"])
        con.execute(
            "INSERT INTO label_history BY NAME SELECT ? AS shard, ? AS labeler_version, ? AS written_at, id, rating, "
            "format, sentiment, topics, tags, synopsis, labeler FROM read_parquet(?)",
            [shard, version, entry["written_at"], str(lake.label_history(shard, version))],
        )


def checkpoint_rows(lake: DataLake) -> list[tuple]:
    """Every checkpoint manifest's rows: which data versions of which shards each run trained on."""
    rows = []
    for manifest_path in lake.checkpoint_manifests():
        manifest = CheckpointManifest.load(manifest_path)
        lineage = manifest.lineage
        for shard, version in manifest.partition_data_versions.items():
            labels_version = lineage.get(shard, {}).get("labels_version")
            row = (manifest.run, shard, version, manifest.tokenizer_sha256, manifest.steps)
            rows.append((*row, manifest.final_loss, labels_version))
    return rows


def replace_checkpoints(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> bool:
    """Make the checkpoints table hold ``rows``; False when it already did (most writes: rewriting it would
    delete rows, and deleted rows turn the vacuum back on)."""
    if sorted(con.execute("SELECT * FROM checkpoints").fetchall(), key=repr) == sorted(rows, key=repr):
        return False
    con.execute("BEGIN TRANSACTION")
    _delete(con, "DELETE FROM checkpoints")
    if rows:
        con.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("COMMIT")
    return True


def record_checkpoints(con: duckdb.DuckDBPyConnection, lake: DataLake) -> int:
    """(Re)load every checkpoint manifest into ``con``'s checkpoints table; the number of rows."""
    rows = checkpoint_rows(lake)
    replace_checkpoints(con, rows)
    return len(rows)


@dataclass
class AuditSummary:
    rows: dict[str, int]  # this shard's rows per table
    checkpoint_rows: int
    top_tags: list[tuple[str, int]]
    ratings: list[tuple[str, int]]


def audit_shard(db_path: Path, lake: DataLake, shard: str) -> AuditSummary:
    """Upsert one shard and reload checkpoint lineage, then publish the database."""
    with audit_writer(db_path, lake) as writer:
        rows = writer.upsert(shard)
        checkpoint_rows = writer.record_checkpoints()
        top_tags = writer.query(
            "SELECT tag, count(*) FROM tags WHERE kind = 'tag' AND shard = ? GROUP BY tag ORDER BY 2 DESC LIMIT 20",
            [shard],
        )
        ratings = writer.query(
            "SELECT rating, count(*) FROM labels WHERE shard = ? GROUP BY rating ORDER BY 2 DESC", [shard]
        )
    return AuditSummary(rows, checkpoint_rows, top_tags, ratings)
