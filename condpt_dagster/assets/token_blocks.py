"""token_blocks: packed token blocks of one shard with loss mask, block->document spans and held-out split."""

import dagster as dg

from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import PER_SHARD_BACKFILL
from condpt_dagster.conditioning.blocks import BlockMeta
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.settings import BlocksSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import token_blocks as stage


def build_token_blocks(options: BlocksSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="token_blocks",
        backfill_policy=PER_SHARD_BACKFILL,
        deps=["conditioned_examples", "tokenizer"],
        partitions_def=shards,
        group_name="training_data",
        kinds={"numpy", "parquet"},
        code_version=options.version(stage.REVISION),
        description="Packed token blocks of one shard with loss mask, block->document spans and a held-out "
        "split (`blocks/<shard>.*`).",
    )
    def token_blocks(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        lake.require_inputs("token_blocks", shard)
        tokenizer = ConditionTokenizer(paths.tokenizer_dir)
        files = paths.blocks(shard)
        with shard_write_lock(paths, shard, log=context.log.info):
            stats = stage.pack_shard(paths.conditioned(shard), tokenizer, files, options)
            data_version = BlockMeta.load(files.meta).data_version
        return dg.MaterializeResult(
            data_version=dg.DataVersion(data_version),
            metadata={
                "dagster/row_count": stats.blocks,
                "blocks": stats.blocks,
                "block_size": options.block_size,
                "documents": stats.documents,
                "heldout_documents": stats.heldout_documents,
                "tokens": stats.tokens,
                "header_tokens": stats.header_tokens,
                "padding_tokens": stats.padding_tokens,
                "tokenizer_sha256": tokenizer.sha256,
                "tokens_path": dg.MetadataValue.path(str(files.tokens)),
                "spans_path": dg.MetadataValue.path(str(files.spans)),
            },
        )

    return token_blocks
