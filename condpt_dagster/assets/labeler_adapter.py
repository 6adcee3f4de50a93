"""labeler_adapter: LoRA fine-tuning of the labeler's encoder on the user's tagged documents."""

from pathlib import Path

import dagster as dg

from condpt_dagster.assets.metadata import records_table
from condpt_dagster.assets.pools import GPU_POOL
from condpt_dagster.core.settings import LabelerAdapterSettings
from condpt_dagster.labelers.base import Labeler
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages import labeler_adapter as stage


def build_labeler_adapter(options: LabelerAdapterSettings, baseline: Labeler | None = None) -> dg.AssetsDefinition:
    """``baseline``: the zero-shot labeler compared on the validation set (default: the composite)."""

    @dg.asset(
        name="labeler_adapter",
        pool=GPU_POOL,
        group_name="labels",
        kinds={"pytorch", "safetensors"},
        code_version=options.version(stage.REVISION),
        description="LoRA adapter + multi-label head fine-tuned on a tagged set (labeler_adapter/), with per-tag "
        "thresholds calibrated on validation; use it with labeler name = 'finetuned' or in the composite.",
    )
    def labeler_adapter(context: dg.AssetExecutionContext, lake: DataLakeResource) -> dg.MaterializeResult:
        source = Path(options.tagged_path) if options.tagged_path else lake.lake.tagged_sample
        out = lake.lake.labeler_adapter
        outcome = stage.train_adapter(source, out, options, baseline)
        report = outcome.report
        if report.single_example_tags:
            context.log.warning(f"tags with a single example (not learnable/validated): {report.single_example_tags}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(out.folder)),
                "tagged_set": dg.MetadataValue.path(str(source)),
                "tags": len(report.tags),
                "train_docs": report.train_docs,
                "validation_docs": report.validation_docs,
                "duplicates_removed": report.duplicates_removed,
                "macro_f1_finetuned": report.metrics["macro_f1"],
                "macro_f1_zero_shot_composite": outcome.zero_shot["macro_f1"],
                "macro_f1_untrained_head": report.untrained_macro_f1,
                "per_tag": records_table(outcome.side_by_side(), {"tag": "string", "support": "int"}),
                "trainable_parameter_share": report.trainable_share,
                "seconds_per_epoch": report.seconds_per_epoch,
            }
        )

    return labeler_adapter
