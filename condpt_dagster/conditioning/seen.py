"""The label values a model trained on some shards has seen: what it can be asked for.

Read from the labels version each shard's headers were built from (the pinned copy in the label history when
the current labels moved on), over the documents actually packed into the blocks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from condpt_dagster.conditioning.blocks import BlockMeta
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.vocab import CLOSED_FIELDS

OPEN_FIELDS = ("tags",)  # counted (the experiment requests frequent ones) but never refused as unseen


MAX_SEEN_TAGS = 200


def training_label_paths(lake: DataLake, shard: str) -> tuple[Path | None, set[str]]:
    """The labels file a shard's blocks were built from (the pinned version when kept, else the current
    labels; None when there is none) and the ids of the documents packed into the blocks."""
    version = BlockMeta.load(lake.blocks(shard).meta).labels_version
    pinned = lake.label_history(shard, version) if version else None
    labels_path = pinned if pinned is not None and pinned.is_file() else lake.labels(shard)
    packed = set(pq.read_table(lake.blocks(shard).spans, columns=["id"]).column("id").to_pylist())
    return (labels_path if labels_path.is_file() else None), packed


def seen_values(lake: DataLake, shards: list[str], fields: list[str]) -> dict[str, dict[str, int]]:
    """Field -> value -> documents, over the documents packed into the shards' blocks, read from the labels
    version their headers were built from: what a model trained on them can be asked for."""
    wanted = [f for f in fields if f in CLOSED_FIELDS or f in OPEN_FIELDS]
    counts: dict[str, Counter] = {f: Counter() for f in wanted}
    for shard in shards:
        labels_path, packed = training_label_paths(lake, shard)
        if labels_path is None:
            continue
        present = [f for f in wanted if f in pq.read_schema(labels_path).names]
        for row in pq.read_table(labels_path, columns=["id", *present]).to_pylist():
            if row["id"] not in packed:
                continue
            for name in present:
                value = row[name]
                values = value if isinstance(value, list) else [] if value is None else [value]
                counts[name].update(str(v) for v in values if str(v) not in ("", "unknown"))
    return {f: dict(c.most_common(MAX_SEEN_TAGS if f in OPEN_FIELDS else None)) for f, c in counts.items() if c}
