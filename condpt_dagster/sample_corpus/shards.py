"""Sample documents written as inbox shards, and as a tagged set for the labeler adapter."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson

from condpt_dagster.core.io import atomic_output


def write_sample_shards(docs: list[dict[str, Any]], inbox: Path, n_shards: int, prefix: str = "sample") -> list[Path]:
    """Write ``docs`` round-robin into ``n_shards`` gzipped JSONL files in ``inbox``."""
    paths = []
    for shard in range(n_shards):
        path = inbox / f"{prefix}-{shard:03d}.jsonl.gz"
        with atomic_output(path) as tmp, gzip.open(tmp, "wb") as out:
            for doc in docs[shard::n_shards]:
                out.write(orjson.dumps(doc) + b"\n")
        paths.append(path)
    return paths


def tagged_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sample corpus's own labels as a tagged set for the labeler adapter: reviews are tagged
    ``topic:entertainment``, ``format:review`` and ``sentiment:<label>``; news articles ``format:news``; fiction
    passages ``format:fiction``."""
    rows = []
    for doc in docs:
        meta = doc["meta"]
        if meta["domain"] == "review":
            tags = ["topic:entertainment", "format:review", f"sentiment:{meta['sentiment']}"]
        else:
            tags = [f"format:{meta['domain']}"]
        rows.append({"text": doc["text"], "tags": tags})
    return rows
