"""Held-out documents: the ones ``token_blocks`` kept out of the blocks, with their labels, as the eval report
and the steering experiment both read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from condpt_dagster.core.lake import DataLake

LABEL_COLUMNS = ["topics", "rating", "format", "sentiment", "tags", "synopsis"]


@dataclass
class HeldOut:
    ids: list[str]
    header_ids: list[list[int]]
    body_ids: list[list[int]]
    labels: list[dict[str, Any]]  # label rows (topics, rating, sentiment, tags, synopsis)
    texts: list[str] = field(default_factory=list)


def load_heldout(lake: DataLake, shards: list[str]) -> HeldOut:
    """Held-out documents of the given shards with their label rows."""
    frames = []
    for shard in shards:
        path = lake.blocks(shard).heldout
        if path.is_file() and lake.labels(shard).is_file():
            labels = pl.read_parquet(lake.labels(shard), columns=["id", *LABEL_COLUMNS])
            frames.append(pl.read_parquet(path).join(labels, on="id", how="inner"))
    if not frames or sum(len(f) for f in frames) == 0:
        raise FileNotFoundError(f"{lake.blocks_dir}: no held-out documents with labels for shards {shards}")
    frame = pl.concat(frames)
    return HeldOut(
        ids=frame["id"].to_list(),
        header_ids=frame["header_ids"].to_list(),
        body_ids=frame["body_ids"].to_list(),
        labels=frame.select(LABEL_COLUMNS).to_dicts(),
        texts=frame["text"].to_list(),
    )
