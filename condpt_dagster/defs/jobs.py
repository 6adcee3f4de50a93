"""The jobs users launch: every per-shard stage of a shard, the tokenizer once, training then evaluation."""

from __future__ import annotations

import dagster as dg

SHARD_JOB = "shard_job"
TOKENIZER_JOB = "tokenizer_job"
TRAIN_JOB = "train_job"


def build_jobs(shard_assets: list, tokenizer, training_assets: list) -> dict[str, dg.JobDefinition]:
    return {
        SHARD_JOB: dg.define_asset_job(
            SHARD_JOB,
            selection=dg.AssetSelection.assets(*shard_assets),
            description="Every per-shard stage for one shard partition (token_blocks needs the tokenizer).",
        ),
        TOKENIZER_JOB: dg.define_asset_job(
            TOKENIZER_JOB, selection=dg.AssetSelection.assets(tokenizer), description="Train the tokenizer once."
        ),
        TRAIN_JOB: dg.define_asset_job(
            TRAIN_JOB,
            selection=dg.AssetSelection.assets(*training_assets),
            description="Train on every shard's blocks, then evaluate.",
        ),
    }
