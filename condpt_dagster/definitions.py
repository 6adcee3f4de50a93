"""The condpt code location: one ``Definitions`` built from the pipeline settings (see settings.py)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from condpt_dagster.assets.audit import label_audit
from condpt_dagster.assets.evaluation import build_eval_report
from condpt_dagster.assets.ingest import build_raw_documents
from condpt_dagster.assets.labeler_adapter import build_labeler_adapter
from condpt_dagster.assets.labels import build_document_labels
from condpt_dagster.assets.training import build_checkpoint
from condpt_dagster.assets.training_data import build_conditioned_examples, build_token_blocks, build_tokenizer_asset
from condpt_dagster.blocks import BlockOptions
from condpt_dagster.condition import ConditioningOptions
from condpt_dagster.evaluate import EvalOptions
from condpt_dagster.ingest import IngestOptions
from condpt_dagster.labelers.finetune import FinetuneOptions
from condpt_dagster.lake import DataLake
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.schedules import build_relabel_schedule
from condpt_dagster.sensors import build_inbox_sensor
from condpt_dagster.settings import Settings, load_settings
from condpt_dagster.tokenizer import TokenizerOptions
from condpt_dagster.training.config import TrainConfig

SHARD_JOB = "shard_job"
TOKENIZER_JOB = "tokenizer_job"
TRAIN_JOB = "train_job"


def build_definitions(settings: Settings) -> dg.Definitions:
    labeler = LabelerResource(**settings.labeler)
    conditioning = settings.conditioning
    if "fields" in conditioning:
        conditioning = {**conditioning, "fields": tuple(conditioning["fields"])}
    condition_options = ConditioningOptions(**conditioning)
    shard_assets = [
        build_raw_documents(IngestOptions(**settings.ingest)),
        build_document_labels(labeler),
        build_conditioned_examples(condition_options),
        build_token_blocks(BlockOptions(**settings.blocks)),
    ]
    tokenizer = build_tokenizer_asset(TokenizerOptions(**settings.tokenizer))
    train_config = TrainConfig.from_dict(settings.training)
    checkpoint = build_checkpoint(
        train_config,
        {"template": condition_options.template, "fields": list(condition_options.fields)},
    )
    shard_job = dg.define_asset_job(
        SHARD_JOB,
        selection=dg.AssetSelection.assets(*shard_assets, label_audit),
        description="Every per-shard stage for one shard partition (token_blocks needs the tokenizer).",
    )
    eval_report = build_eval_report(train_config.run, EvalOptions(**settings.eval))
    adapter_settings = dict(settings.labeler_adapter)
    adapter = build_labeler_adapter(adapter_settings.pop("tagged_path", None), FinetuneOptions(**adapter_settings))
    tokenizer_job = dg.define_asset_job(
        TOKENIZER_JOB, selection=dg.AssetSelection.assets(tokenizer), description="Train the tokenizer once."
    )
    train_job = dg.define_asset_job(
        TRAIN_JOB,
        selection=dg.AssetSelection.assets(checkpoint, eval_report),
        description="Train on every shard's blocks, then evaluate.",
    )
    return dg.Definitions(
        assets=[*shard_assets, label_audit, tokenizer, checkpoint, eval_report, adapter],
        jobs=[shard_job, tokenizer_job, train_job],
        sensors=[build_inbox_sensor(shard_job)],
        schedules=[build_relabel_schedule(shard_job, settings.relabel.get("cron", "0 3 * * 0"))],
        resources={
            "lake": DataLakeResource(root=settings.data_root),
            "labeler": labeler,
            "pipes_subprocess_client": dg.PipesSubprocessClient(),
            "duckdb": DuckDBResource(database=str(DataLake.at(settings.data_root).audit_db)),
        },
    )


defs = build_definitions(load_settings())
