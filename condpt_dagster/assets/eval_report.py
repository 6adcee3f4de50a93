"""eval_report: conditioning gain, control adherence, diversity and attribution of a checkpoint."""

import dagster as dg

from condpt_dagster.assets.metadata import png_image, records_table
from condpt_dagster.assets.pools import GPU_POOL
from condpt_dagster.core.io import write_lock
from condpt_dagster.core.settings import EvalSettings
from condpt_dagster.evaluation.verdict import verdict_lines
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages import eval_report as stage

CHECK = "conditioning_helps"
CHECK_FIELDS = ("gain_vs_no_header", "mean_lift")


def build_eval_report(run: str, options: EvalSettings) -> dg.AssetsDefinition:
    @dg.asset(
        name="eval_report",
        pool=GPU_POOL,
        deps=["checkpoint"],
        group_name="training",
        kinds={"pytorch", "html"},
        code_version=options.version(f"{stage.REVISION}:{run}"),
        description=f"Does checkpoint `{run}` follow its conditionals? eval/{run}/: report.md, report.html, "
        "plots, metrics.json.",
        check_specs=[
            dg.AssetCheckSpec(
                CHECK, asset="eval_report", description="Conditioning gain > 0 and mean lift > 1 (warning)."
            )
        ],
    )
    def eval_report(
        context: dg.AssetExecutionContext, lake: DataLakeResource, labeler: LabelerResource
    ) -> dg.MaterializeResult:
        paths = lake.lake
        with write_lock(
            paths.asset_lock("eval_report"), paths.evaluation(run).all_files, f"eval/{run}", context.log.info
        ):
            outcome = stage.evaluate_checkpoint(paths, run, labeler.labeler(), options, progress=context.log.info)
        headline = outcome.metrics["headline"]
        return dg.MaterializeResult(
            metadata={
                "headline": outcome.metrics["verdict"],  # first: the UI lists metadata in this order
                "lifts": png_image(outcome.files.lift_plot),
                "verdict": dg.MetadataValue.md("\n".join(f"- {x}" for x in verdict_lines(outcome.metrics["fields"]))),
                "summary": records_table(
                    [{"metric": k, "value": "–" if v is None else str(v)} for k, v in headline.items()],
                    {"metric": "string", "value": "string"},
                ),
                "adherence_plot": png_image(outcome.files.adherence_plot),
                "report": dg.MetadataValue.path(str(outcome.files.html)),
                "heldout_documents": outcome.heldout_documents,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK,
                    passed=stage.conditioning_helps(headline),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={k: "n/a" if headline[k] is None else headline[k] for k in CHECK_FIELDS},
                )
            ],
        )

    return eval_report
