"""steering_experiment: conditional vs matched unconditional model, judged independently (its stage module)."""

from typing import TYPE_CHECKING, Any

import dagster as dg

from condpt_dagster.assets.metadata import png_image, records_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import GPU_POOL
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.io import write_lock
from condpt_dagster.core.lake import ExperimentFiles
from condpt_dagster.core.settings import ExperimentSettings, TrainingSettings
from condpt_dagster.evaluation.verdict import STEERED
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages.steering_experiment import REVISION

if TYPE_CHECKING:
    from condpt_dagster.evaluation.summary import ExperimentSummary

CHECK = "steering_detected"


def build_steering_experiment(
    training: TrainingSettings, conditioning: HeaderFormat, options: ExperimentSettings
) -> dg.AssetsDefinition:
    @dg.asset(
        name="steering_experiment",
        pool=GPU_POOL,
        deps=[dg.AssetDep("token_blocks", partition_mapping=dg.AllPartitionMapping()), "tokenizer"],
        group_name="experiments",
        kinds={"deepspeed", "pytorch"},
        code_version=f"{REVISION}:{options.version(REVISION)}:{training.version(REVISION)}",
        description=f"Trains {options.name}-conditional and a matched {options.name}-unconditional baseline on the "
        f"same blocks and judges steering independently: experiments/{options.name}/ (summary.json, report.html).",
        check_specs=[
            dg.AssetCheckSpec(CHECK, asset="steering_experiment", description="Every steerable field steers (warning).")
        ],
    )
    def steering_experiment(
        context: dg.AssetExecutionContext, lake: DataLakeResource, labeler: LabelerResource
    ) -> dg.MaterializeResult:
        # torch, transformers and scikit-learn: loaded when the experiment runs, not with the code location
        from condpt_dagster.evaluation.experiment_report import write_experiment
        from condpt_dagster.stages.steering_experiment import run_experiment

        paths = lake.lake
        out = paths.experiment(options.name)
        keys = context.instance.get_dynamic_partitions(shards.name)
        with write_lock(paths.asset_lock("steering_experiment"), [out.summary], f"experiments/{options.name}"):
            result = run_experiment(
                paths, keys, training, conditioning, options, labeler.labeler().label, progress=context.log.info
            )
            write_experiment(result, out)
        summary = result.summary
        steerable = summary.steerable()
        return dg.MaterializeResult(
            metadata=_metadata(summary, out),
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK,
                    passed=bool(steerable) and all(r["verdict"] == STEERED for r in steerable.values()),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={f: r["verdict"] for f, r in steerable.items()},
                )
            ],
        )

    return steering_experiment


def _metadata(summary: "ExperimentSummary", out: ExperimentFiles) -> dict[str, Any]:
    """The verdict, a table per field, the heatmaps and the curve for the asset page."""
    from condpt_dagster.evaluation.experiment_report import headline
    from condpt_dagster.evaluation.steering import verdict_lines

    rows = [
        {
            "field": f,
            "lift": r.get("lift"),
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
            "adherence": r.get("adherence"),
            "baseline_rate": r.get("baseline_rate"),
            "corpus_reference_lift": r.get("reference", {}).get("lift"),
            "flip_cost": r.get("flip_cost", {}).get("cost"),
            "flip_cost_given_others": r.get("flip_cost_given_others", {}).get("cost"),
            "verdict": r.get("verdict", r.get("reason", "")),
        }
        for f, r in summary.fields.items()
    ]
    metadata: dict[str, Any] = {
        "headline": headline(summary),  # first: the UI lists metadata in this order
        "lifts": png_image(out.lift_plot),
        "verdict": dg.MetadataValue.md("\n".join(f"- {line}" for line in verdict_lines(summary))),
        "fields": records_table(rows, {"field": "string", "verdict": "string"}),
        "gain_vs_shuffled": summary.gain_vs_shuffled["gain"],
        "loss_cost_vs_unconditional": summary.loss_cost_vs_unconditional["cost"],
        "tokens_trained": summary.tokens_trained,
        "minutes": summary.minutes["total"],
        "report": dg.MetadataValue.path(str(out.html)),
        **{f"adherence_{f}": png_image(out.heatmap(f)) for f, r in summary.fields.items() if r.get("steerable")},
    }
    if out.curve_plot.is_file():
        metadata["lift_vs_tokens"] = png_image(out.curve_plot)
    return metadata
