"""What one shard's label_audit upsert costs as the audit database grows: a copy per write against two generations.

    python -m bench.audit_upsert [--shards 100] [--shard-docs 10000]

Shards of synthetic label rows (``bench/audit.py``'s, with tags, scores, block spans) are upserted one by
one, as a backfill of label_audit does, into four databases side by side, alternating shard by shard:
- **copy per write**: copy the published file, upsert, checkpoint, rename the copy over it — every upsert
  pays the size of the whole database (the design before issue 29's part 4; ``label_audit`` still does it
  below ``COPY_BELOW_BYTES``);
- **two generations** (``core/double_buffer.py``, ``label_audit`` above that size): write the unpublished
  generation in place after copying the previous upsert's rows from the published one, publish by a
  hard-link rename;
- both as now, DuckDB's checkpoint vacuum off unless the write deleted rows (``APPEND_ONLY``, part 9), and as
  before part 9 (**copy, vacuum** and **generations, vacuum**): the vacuum on for every write.
Printed: the median upsert of the first and the last tenth of the shards, the growth (last / first), the
slowest upsert, the totals, the database size at the end, each design's median per tenth (where the copy
stops paying) and the ratios between the designs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import duckdb

from bench.audit import write_shard
from condpt_dagster.core import double_buffer
from condpt_dagster.core.double_buffer import double_buffered_write
from condpt_dagster.core.lake import DataLake
from condpt_dagster.stages.label_audit import (
    APPEND_ONLY,
    SCHEMA,
    AuditWriter,
    _replay,
    audit_writer,
    record_checkpoints,
    upsert_shard,
)

REPO = Path(__file__).resolve().parents[1]


def copy_per_write(db: Path, lake: DataLake, shard: str, schema: str = SCHEMA) -> None:
    """The former ``writable_copy``, and what ``label_audit`` does below ``COPY_BELOW_BYTES``: a private copy
    of the whole database per upsert."""
    tmp = db.with_name(f".{db.name}.copy.tmp")
    if db.exists():
        shutil.copy2(db, tmp)
    con = duckdb.connect(str(tmp))
    con.execute(schema)
    upsert_shard(con, lake, shard)
    record_checkpoints(con, lake)
    con.execute("CHECKPOINT")
    con.close()
    os.replace(tmp, db)


def two_generations(db: Path, lake: DataLake, shard: str) -> None:
    double_buffer.COPY_BELOW_BYTES = 0  # the generations at every size (label_audit copies below it)
    with audit_writer(db, lake) as writer:
        writer.upsert(shard)
        writer.record_checkpoints()


def two_generations_vacuuming(db: Path, lake: DataLake, shard: str) -> None:
    """As before part 9: DuckDB's checkpoint vacuum on for every write, appends included."""
    double_buffer.COPY_BELOW_BYTES = 0
    with double_buffered_write(db, SCHEMA.removeprefix(APPEND_ONLY), _replay) as write:
        writer = AuditWriter(write, lake)
        writer.upsert(shard)
        writer.record_checkpoints()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--shard-docs", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_audit_upsert_"))
    lake = DataLake.at(work / "data")
    rng = random.Random(0)
    shards = [f"s{i:04d}" for i in range(args.shards)]
    start = time.perf_counter()
    for shard in shards:
        write_shard(lake, shard, args.shard_docs, rng)
    print(f"built {args.shards} shards x {args.shard_docs:,} documents in {time.perf_counter() - start:.0f}s")
    vacuuming = SCHEMA.removeprefix(APPEND_ONLY)  # as before part 9: the checkpoint vacuums
    designs = {
        "copy, vacuum": (partial(copy_per_write, schema=vacuuming), work / "copy_vacuum.duckdb"),
        "copy per write": (copy_per_write, work / "copy.duckdb"),
        "two generations": (two_generations, lake.audit_db),
        "generations, vacuum": (two_generations_vacuuming, work / "vacuum.duckdb"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in designs}
    for shard in shards:
        for name, (upsert, db) in designs.items():
            start = time.perf_counter()
            upsert(db, lake, shard)
            seconds[name].append(time.perf_counter() - start)
    tenth = max(1, args.shards // 10)
    first = {name: statistics.median(s[:tenth]) for name, s in seconds.items()}
    last = {name: statistics.median(s[-tenth:]) for name, s in seconds.items()}
    for name, (_, db) in designs.items():
        print(
            f"{name:19s} first tenth {first[name]:6.3f}s, last tenth {last[name]:6.3f}s per upsert "
            f"(growth {last[name] / first[name]:.2f}x), slowest {max(seconds[name]):6.2f}s, "
            f"total {sum(seconds[name]):6.1f}s, "
            f"database {db.stat().st_size / 2**20:,.0f} MiB"
        )
    for name in designs:  # where a copy per write stops paying (COPY_BELOW_BYTES)
        tenths = [statistics.median(seconds[name][i : i + tenth]) for i in range(0, len(shards), tenth)]
        print(f"{name:19s} median upsert per tenth of the shards: " + " ".join(f"{t:.2f}" for t in tenths))
    copy, generations, vacuum = "copy per write", "two generations", "generations, vacuum"
    for before, now in ((vacuum, generations), ("copy, vacuum", copy)):
        print(f"{before} / {now} (append-only): total {sum(seconds[before]) / sum(seconds[now]):.2f}x")
    print(
        f"copy per write / two generations: last tenth {last[copy] / last[generations]:.2f}x, "
        f"total {sum(seconds[copy]) / sum(seconds[generations]):.2f}x"
    )
    same = duckdb.connect(str(designs[copy][1]), read_only=True).execute("SELECT count(*) FROM labels").fetchone()[0]
    ours = duckdb.connect(str(lake.audit_db), read_only=True).execute("SELECT count(*) FROM labels").fetchone()[0]
    print(f"label rows: copy per write {same:,}, two generations {ours:,}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
