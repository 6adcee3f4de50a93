"""The labeler_adapter asset: LoRA fine-tuning of the labeler's encoder on the user's tagged documents."""

from dataclasses import asdict

import dagster as dg

from condpt_dagster.labelers.base import Labeler, config_hash
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.finetune import (
    FinetuneOptions,
    composite_tag_sets,
    finetune,
    tag_metrics,
)
from condpt_dagster.resources import DataLakeResource

ADAPTER_DIR = "labeler_adapter"


def side_by_side(report, baseline: dict) -> dg.TableMetadataValue:
    base = {row["tag"]: row for row in baseline["per_tag"]}
    records = [
        dg.TableRecord(
            {
                "tag": row["tag"],
                "support": row["support"],
                "finetuned_precision": row["precision"],
                "finetuned_recall": row["recall"],
                "finetuned_f1": row["f1"],
                "zero_shot_precision": base[row["tag"]]["precision"],
                "zero_shot_recall": base[row["tag"]]["recall"],
                "zero_shot_f1": base[row["tag"]]["f1"],
            }
        )
        for row in report.metrics["per_tag"]
    ]
    columns = [
        "tag",
        "support",
        "finetuned_precision",
        "finetuned_recall",
        "finetuned_f1",
        "zero_shot_precision",
        "zero_shot_recall",
        "zero_shot_f1",
    ]
    types = {"tag": "string", "support": "int"}
    return dg.MetadataValue.table(
        records=records, schema=dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "float")) for c in columns])
    )


def build_labeler_adapter(
    tagged_path: str | None, options: FinetuneOptions, baseline: Labeler | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        name="labeler_adapter",
        group_name="labels",
        kinds={"pytorch", "safetensors"},
        code_version=config_hash({"tagged_path": tagged_path, **asdict(options)}),
        description="LoRA adapter + multi-label head fine-tuned on a tagged set (labeler_adapter/), with per-tag "
        "thresholds calibrated on validation; use it with labeler name = 'finetuned' or in the composite.",
    )
    def labeler_adapter(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        import numpy as np
        import polars as pl

        source = tagged_path or str(lake.lake.root / "tagged" / "sample.parquet")
        out = lake.lake.root / ADAPTER_DIR
        report = finetune(source, out, options)
        validation = pl.read_parquet(out / "validation.parquet")
        zero_shot = (baseline or CompositeLabeler()).label(validation["text"].to_list())
        predicted = composite_tag_sets(zero_shot)
        truth = validation["tags"].to_list()
        y_true = np.array([[t in doc for t in report.tags] for doc in truth], dtype=int)
        y_pred = np.array([[t in doc for t in report.tags] for doc in predicted], dtype=int)
        base = tag_metrics(report.tags, y_true, y_pred)
        if report.single_example_tags:
            context.log.warning(f"tags with a single example (not learnable/validated): {report.single_example_tags}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(out)),
                "tagged_set": dg.MetadataValue.path(source),
                "tags": len(report.tags),
                "train_docs": report.train_docs,
                "validation_docs": report.validation_docs,
                "duplicates_removed": report.duplicates_removed,
                "macro_f1_finetuned": report.metrics["macro_f1"],
                "macro_f1_zero_shot_composite": base["macro_f1"],
                "macro_f1_untrained_head": report.untrained_macro_f1,
                "per_tag": side_by_side(report, base),
                "trainable_parameter_share": report.trainable_share,
                "seconds_per_epoch": report.seconds_per_epoch,
            }
        )

    return labeler_adapter
