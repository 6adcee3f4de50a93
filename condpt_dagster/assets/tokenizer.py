"""tokenizer: byte-level BPE (or a base model's tokenizer) with EOS, PAD and control tokens, trained once."""

import dagster as dg

from condpt_dagster.core.io import write_lock
from condpt_dagster.core.settings import TokenizerSettings
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import tokenizer as stage


def build_tokenizer_asset(options: TokenizerSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="tokenizer",
        deps=[dg.AssetDep("conditioned_examples", partition_mapping=dg.AllPartitionMapping())],
        group_name="training_data",
        kinds={"huggingface"},
        code_version=options.version(stage.code_revision()),
        description="Byte-level BPE trained on conditioned examples (or a base model's tokenizer) with EOS and "
        "control tokens as special tokens (tokenizer/tokenizer.json). Trained once; its sha256 is the data version.",
    )
    def tokenizer(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        paths = lake.lake
        outputs = [paths.tokenizer.tokenizer_json, paths.tokenizer.special_tokens]
        with write_lock(paths.asset_lock("tokenizer"), outputs, "tokenizer", log=context.log.info):
            tok = stage.train_tokenizer(paths, options, log=context.log.info)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(tok.sha256[:32]),
            metadata={
                "path": dg.MetadataValue.path(str(lake.lake.tokenizer.tokenizer_json)),
                "sha256": tok.sha256,
                "vocab_size": tok.vocab_size,
                "control_tokens": len(tok.controls),
                "source": options.base_tokenizer_dir or "trained BPE",
            },
        )

    return tokenizer
