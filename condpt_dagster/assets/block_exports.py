"""block_exports: one shard's token blocks as Megatron-LM indexed datasets and Hugging Face Arrow."""

import hashlib

import dagster as dg

from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import PER_SHARD_BACKFILL
from condpt_dagster.core.io import shard_write_lock
from condpt_dagster.core.settings import ExportSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import block_exports as stage


def build_block_exports(options: ExportSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="block_exports",
        backfill_policy=PER_SHARD_BACKFILL,
        deps=["token_blocks"],
        partitions_def=shards,
        group_name="training_data",
        kinds={"arrow"},
        code_version=options.version(stage.REVISION),
        description="The shard's token blocks in the formats other training engines read "
        f"({', '.join(options.formats)}): `exports/<format>/`, with lineage and a dataset card.",
    )
    def block_exports(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard, paths = context.partition_key, lake.lake
        lake.require_inputs("block_exports", shard)
        with shard_write_lock(paths, shard, log=context.log.info):
            exported = stage.export_shard(paths, shard, options.formats)
        versions = "".join(e.manifest.blocks_data_version + e.manifest.format for e in exported)
        first = exported[0].manifest
        return dg.MaterializeResult(
            data_version=dg.DataVersion(hashlib.sha256(versions.encode()).hexdigest()[:16]),
            metadata={
                "formats": ", ".join(e.manifest.format for e in exported),
                "documents": first.documents,
                "tokens": first.tokens,
                "blocks_data_version": first.blocks_data_version,
                "labels_version": first.labels_version or "",
                "tokenizer_sha256": first.tokenizer_sha256,
                **{f"{e.manifest.format}_path": dg.MetadataValue.path(str(e.path)) for e in exported},
            },
        )

    return block_exports
