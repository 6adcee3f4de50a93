"""The eval_report asset: conditioning gain, control adherence, diversity and attribution of a checkpoint."""

import base64
import json
from pathlib import Path

import dagster as dg
import polars as pl

from condpt_dagster.blocks import block_paths
from condpt_dagster.eval_report import write_report
from condpt_dagster.evaluate import EvalOptions, HeldOut, evaluate
from condpt_dagster.labelers.base import config_hash
from condpt_dagster.lake import DataLake
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.training.generate import ConditionalGenerator

CHECK = "conditioning_helps"


def load_heldout(lake: DataLake, shards: list[str]) -> HeldOut:
    """Held-out documents of the given shards with their label rows."""
    frames = []
    for shard in shards:
        path = block_paths(lake.blocks_dir, shard)["heldout"]
        if path.is_file() and lake.labels(shard).is_file():
            held = pl.read_parquet(path)
            labels = pl.read_parquet(
                lake.labels(shard), columns=["id", "topics", "rating", "sentiment", "tags", "synopsis"]
            )
            frames.append(held.join(labels, on="id", how="inner"))
    if not frames or sum(len(f) for f in frames) == 0:
        raise FileNotFoundError(f"{lake.blocks_dir}: no held-out documents with labels for shards {shards}")
    frame = pl.concat(frames)
    label_cols = ["topics", "rating", "sentiment", "tags", "synopsis"]
    return HeldOut(
        ids=frame["id"].to_list(),
        header_ids=frame["header_ids"].to_list(),
        body_ids=frame["body_ids"].to_list(),
        labels=frame.select(label_cols).to_dicts(),
    )


def build_eval_report(run: str, options: EvalOptions) -> dg.AssetsDefinition:
    @dg.asset(
        name="eval_report",
        deps=["checkpoint"],
        group_name="training",
        kinds={"pytorch", "html"},
        code_version=config_hash({"run": run, **options.__dict__}),
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
        checkpoint_dir = paths.checkpoints_dir / run
        manifest = json.loads((checkpoint_dir / "manifest.json").read_text(encoding="utf-8"))
        heldout = load_heldout(paths, manifest["shards"])
        generator = ConditionalGenerator(checkpoint_dir)
        impl = labeler.labeler()
        encoder = getattr(impl, "encoder", None)
        if encoder is None:
            from condpt_dagster.labelers.encoder import SentenceEncoder

            encoder = SentenceEncoder()
        metrics = evaluate(generator, heldout, impl.label, encoder.encode, options, progress=context.log.info)
        metrics["checkpoint"] = {"run": run, "labeler_version": impl.version(), "steps": manifest["steps"]}
        out = paths.eval_dir / run
        files = write_report(metrics, out, f"condpt evaluation: {run}")
        headline = metrics["headline"]
        gain, lift = headline["gain_vs_no_header"], headline["mean_lift"]
        passed = gain is not None and gain > 0 and lift is not None and lift > 1
        plot = base64.b64encode(Path(files["adherence.png"]).read_bytes()).decode()
        return dg.MaterializeResult(
            metadata={
                "headline": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord({"metric": k, "value": "–" if v is None else str(v)})
                        for k, v in headline.items()
                    ],
                    schema=dg.TableSchema(
                        columns=[dg.TableColumn("metric", "string"), dg.TableColumn("value", "string")]
                    ),
                ),
                "adherence_plot": dg.MetadataValue.md(f"![adherence](data:image/png;base64,{plot})"),
                "report": dg.MetadataValue.path(str(files["report.html"])),
                "heldout_documents": len(heldout.ids),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "gain_vs_no_header": gain if gain is not None else "n/a",
                        "mean_lift": lift if lift is not None else "n/a",
                    },
                )
            ],
        )

    return eval_report
