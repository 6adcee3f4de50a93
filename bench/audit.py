"""Audit database at scale: canned queries over 1,000,000 label rows, and the upsert of a 100,000-document shard.

    python -m bench.audit [--rows 1000000] [--shard-docs 100000]

Label rows are built by replicating realistic label rows (tags, topics, ratings, scores JSON) with fresh
ids and one block span each, written as shards of ``--shard-docs`` documents and upserted one by one (each
upsert timed), then every canned `condpt audit` query runs on the auditors' read-only connection (best of 3).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.audit.access import (
    CANNED,
    AuditQueryError,
    audit_query,
    check_statement,
    open_for_audit,
    stream_query,
)
from condpt_dagster.conditioning.blocks import SPANS_SCHEMA
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.lake import DataLake
from condpt_dagster.labelers.base import LABEL_SCHEMA
from condpt_dagster.stages.clean_documents import REMOVED_SCHEMA
from condpt_dagster.stages.label_audit import audit_writer

REPO = Path(__file__).resolve().parents[1]

TOPICS = [
    "entertainment",
    "politics",
    "finance-business",
    "software",
    "science-tech",
    "health",
    "sports-fitness",
    "crime-law",
    "history",
]
WORDS = [f"keyword{i}" for i in range(3000)]


def write_shard(lake: DataLake, shard: str, n: int, rng: random.Random) -> None:
    ids = [f"{shard}-{i}" for i in range(n)]
    raw = {
        "id": ids,
        "text": ["x" * rng.randint(100, 3000) for _ in ids],
        "source": ["bench"] * n,
        "meta": ["{}"] * n,
        "shard": [shard] * n,
        "line": list(range(1, n + 1)),
    }
    lake.raw_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(raw), lake.raw(shard))
    rows = []
    for doc_id in ids:
        tags = rng.sample(WORDS[: rng.choice([50, 300, 3000])], 6)
        topic = rng.choice(TOPICS)
        scores = {f"tag:{t}": round(rng.random(), 3) for t in tags} | {f"topic:{topic}": 0.4, "sentiment": 0.1}
        row = {
            "id": doc_id,
            "tags": tags,
            "topics": [topic],
            "rating": rng.choice(["G", "G", "PG", "PG-13", "R"]),
            "sfw": True,
            "sentiment": rng.choice(["positive", "negative"]),
            "format": rng.choice(["news", "fiction", "review", "forum"]),
            "language": "en",
            "synopsis": "A synopsis line of moderate length for the benchmark.",
            "length": "medium",
            "readability": 9.0,
            "scores": json.dumps(scores),
            "labeler": "composite",
            "labeler_version": "bench",
            "error": None,
        }
        rows.append(row)
    lake.labels_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=LABEL_SCHEMA), lake.labels(shard))
    spans = {
        "block": [i // 4 for i in range(n)],
        "id": ids,
        "start": [(i % 4) * 512 for i in range(n)],
        "end": [(i % 4 + 1) * 512 for i in range(n)],
        "doc_start": [0] * n,
        "doc_tokens": [512] * n,
        "header_tokens": [24] * n,
    }
    lake.blocks_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(spans, schema=SPANS_SCHEMA), lake.blocks(shard).spans)
    # what clean_documents leaves: the kept documents (the upsert reads clean/) and an empty removed/ file
    clean = {"id": ids, "text": ["A document of the benchmark."] * n, "source": ["bench"] * n}
    lake.clean_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({**clean, "line": list(range(1, n + 1))}), lake.clean(shard))
    lake.removed_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(REMOVED_SCHEMA.empty_table(), lake.removed(shard))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shard-docs", type=int, default=100_000)
    args = parser.parse_args()
    lake = DataLake.at(tempfile.mkdtemp(prefix="bench_audit_"))
    rng = random.Random(0)
    shards = [f"s{i:02d}" for i in range(args.rows // args.shard_docs)]
    start = time.perf_counter()
    for shard in shards:
        write_shard(lake, shard, args.shard_docs, rng)
    print(f"built {len(shards)} shards x {args.shard_docs:,} label rows in {time.perf_counter() - start:.0f}s")
    (lake.checkpoints_dir / "bench").mkdir(parents=True)
    CheckpointManifest(
        run="bench",
        config={"run": "bench"},
        config_version="bench",
        code_version="bench",
        tokenizer_sha256="t",
        shards=shards,
        partition_data_versions={s: "v" for s in shards},
        steps=1,
        final_loss=1.0,
    ).save(lake.checkpoint("bench").manifest)
    upserts = []
    for shard in shards:
        start = time.perf_counter()
        with audit_writer(lake.audit_db, lake) as writer:
            writer.upsert(shard)
            writer.record_checkpoints()
        upserts.append(time.perf_counter() - start)
    print(
        f"upsert of one {args.shard_docs:,}-document shard: first {upserts[0]:.2f}s, last {upserts[-1]:.2f}s "
        f"(includes copying the database: {lake.audit_db.stat().st_size / 1e6:,.0f} MB at the end)"
    )
    con = open_for_audit(lake)
    print(
        f"label rows: {audit_query(con, 'SELECT count(*) FROM labels').item():,}, tag rows: "
        f"{audit_query(con, 'SELECT count(*) FROM tags').item():,}"
    )
    queries = {
        "audit tags --top 50": (CANNED["tags"], ["tag", 50]),
        "audit ratings": (CANNED["ratings"], []),
        "audit ratings --by shard": (CANNED["ratings_by_shard"], []),
        "audit lineage --checkpoint bench": (CANNED["lineage"], ["bench"]),
        "labeler_versions view": (CANNED["versions"], []),
        "tag_cooccurrence top 20": ("SELECT * FROM tag_cooccurrence LIMIT 20", []),
    }
    for name, (sql, params) in queries.items():
        best = checked = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            audit_query(con, sql, params)
            best = min(best, time.perf_counter() - start)
            start = time.perf_counter()
            check_statement(con, sql)  # the allow-list alone: parse, walk, catalog lookup
            checked = min(checked, time.perf_counter() - start)
        print(f"{name:36s} {best:7.3f}s (allow-list {checked * 1000:.1f} ms of it)")
    # What `condpt audit sql` costs on the whole table: the row limit keeps memory bounded, streaming to a
    # file touches every row in batches, and a runaway query is stopped by the deadline.
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    shown = audit_query(con, "SELECT * FROM labels", max_rows=10_000)
    print(
        f"{'SELECT * FROM labels (--max-rows 10000)':36s} {time.perf_counter() - start:7.3f}s, {len(shown) - 1:,} rows"
    )
    start = time.perf_counter()
    streamed = sum(len(batch) for batch in stream_query(con, "SELECT * FROM labels"))
    print(f"{'SELECT * FROM labels streamed':36s} {time.perf_counter() - start:7.3f}s, {streamed:,} rows")
    start = time.perf_counter()
    try:
        audit_query(con, "SELECT count(*) FROM labels a, labels b", timeout=2)
    except AuditQueryError as exc:
        print(f"{'cross join, --timeout 2':36s} {time.perf_counter() - start:7.3f}s: {exc}")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS growth over these three queries: {rss_after - rss_before:,.0f} MiB")


if __name__ == "__main__":
    main()
