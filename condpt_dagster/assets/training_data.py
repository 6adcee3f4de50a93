"""Assets that turn labeled documents into training data: conditioned examples, tokenizer, token blocks."""

import dagster as dg
import pyarrow.parquet as pq

from condpt_dagster.blocks import BlockOptions, block_paths, blocks_data_version, pack_shard
from condpt_dagster.condition import ConditioningOptions, condition_shard
from condpt_dagster.lake import file_sha256
from condpt_dagster.partitions import shards
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.tokenizer import ConditionTokenizer, TokenizerOptions, build_tokenizer


def build_conditioned_examples(options: ConditioningOptions) -> dg.AssetsDefinition:
    @dg.asset(
        name="conditioned_examples",
        deps=["raw_documents", "document_labels"],
        partitions_def=shards,
        group_name="training_data",
        kinds={"parquet"},
        code_version=options.version(),
        description=f"Label header + text per document (conditioned/<shard>.parquet), template "
        f"`{options.template}`, fields {list(options.fields)}.",
    )
    def conditioned_examples(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard = context.partition_key
        paths = lake.lake
        stats = condition_shard(paths.raw(shard), paths.labels(shard), paths.conditioned(shard), options)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(file_sha256(paths.conditioned(shard))[:32]),
            metadata={
                "dagster/row_count": stats.documents,
                "path": dg.MetadataValue.path(str(paths.conditioned(shard))),
                "template": options.template,
                "without_header": stats.without_header,
                "header_dropout_observed": round(stats.without_header / max(1, stats.documents), 4),
                "example_headers": dg.MetadataValue.md("\n\n".join(f"```\n{h}```" for h in stats.examples)),
            },
        )

    return conditioned_examples


def _sample_examples(context: dg.AssetExecutionContext, lake: DataLakeResource, limit: int):
    """Up to ``limit`` (header, text) pairs spread evenly over the materialized conditioned shards."""
    files = sorted(lake.lake.conditioned_dir.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{lake.lake.conditioned_dir}: no conditioned examples; materialize them first")
    per_file = max(1, limit // len(files))
    context.log.info(f"training tokenizer on up to {per_file} examples from each of {len(files)} shards")
    for path in files:
        table = pq.read_table(path, columns=["header", "text"]).slice(0, per_file)
        yield from zip(table.column("header").to_pylist(), table.column("text").to_pylist(), strict=True)


def build_tokenizer_asset(options: TokenizerOptions) -> dg.AssetsDefinition:
    @dg.asset(
        name="tokenizer",
        deps=[dg.AssetDep("conditioned_examples", partition_mapping=dg.AllPartitionMapping())],
        group_name="training_data",
        kinds={"huggingface"},
        code_version=options.version(),
        description="Byte-level BPE trained on conditioned examples (or a base model's tokenizer) with EOS and "
        "control tokens as special tokens (tokenizer/tokenizer.json). Trained once; its sha256 is the data version.",
    )
    def tokenizer(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        out = lake.lake.tokenizer_dir
        examples = [] if options.base_tokenizer_dir else _sample_examples(context, lake, options.sample_docs)
        sha = build_tokenizer(examples, out, options)
        tok = ConditionTokenizer(out)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(sha[:32]),
            metadata={
                "path": dg.MetadataValue.path(str(out / "tokenizer.json")),
                "sha256": sha,
                "vocab_size": tok.vocab_size,
                "control_tokens": len(tok.controls),
                "source": options.base_tokenizer_dir or "trained BPE",
            },
        )

    return tokenizer


def build_token_blocks(options: BlockOptions) -> dg.AssetsDefinition:
    @dg.asset(
        name="token_blocks",
        deps=["conditioned_examples", "tokenizer"],
        partitions_def=shards,
        group_name="training_data",
        kinds={"numpy", "parquet"},
        code_version=options.version(),
        description="Packed token blocks of one shard with loss mask, block->document spans and a held-out "
        "split (blocks/<shard>.*).",
    )
    def token_blocks(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        shard = context.partition_key
        paths = lake.lake
        tokenizer = ConditionTokenizer(paths.tokenizer_dir)
        stats = pack_shard(paths.conditioned(shard), tokenizer, paths.blocks_dir, shard, options)
        files = block_paths(paths.blocks_dir, shard)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(blocks_data_version(paths.blocks_dir, shard)),
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
                "tokens_path": dg.MetadataValue.path(str(files["tokens"])),
                "spans_path": dg.MetadataValue.path(str(files["spans"])),
            },
        )

    return token_blocks
