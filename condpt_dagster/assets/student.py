"""teacher_sample and student_labeler: the composite labeler distilled into the fast ``student`` labeler."""

import dagster as dg

from condpt_dagster.assets.metadata import count_table
from condpt_dagster.assets.partitions import shards
from condpt_dagster.assets.pools import GPU_POOL
from condpt_dagster.core.labeler_settings import StudentSettings
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages import student as stage

AGREEMENT_CHECK = "student_agrees_with_teacher"


def build_teacher_sample(options: StudentSettings, teacher: LabelerResource) -> dg.AssetsDefinition:
    """``code_version``: the sample settings and the teacher's version (a new teacher means a new sample)."""

    @dg.asset(
        name="teacher_sample",
        pool=GPU_POOL,
        deps=[dg.AssetDep("clean_documents", partition_mapping=dg.AllPartitionMapping())],
        group_name="labels",
        kinds={"parquet"},
        code_version=f"{options.version(stage.REVISION)}:{teacher.version()}",
        description="A sample of clean documents drawn from every shard in proportion to its size, labelled by the "
        "teacher (the composite labeler): what the student learns from (student/teacher_sample.parquet).",
    )
    def teacher_sample(context: dg.AssetExecutionContext, lake: DataLakeResource, teacher: LabelerResource):
        keys = sorted(context.instance.get_dynamic_partitions(shards.name))
        impl = teacher.labeler()

        def progress(done: int) -> None:
            if done % 500 < options.batch_docs:
                context.log.info(f"teacher labelled {done} sample documents")

        sample = stage.draw_and_label(lake.lake, keys, impl, options, progress)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sample.documents,
                "path": dg.MetadataValue.path(str(lake.lake.teacher_sample)),
                "teacher": impl.name,
                "teacher_version": impl.version(),
                "per_shard": count_table("shard", sorted(sample.per_shard.items())),
            }
        )

    return teacher_sample


def build_student_labeler(options: StudentSettings, teacher: LabelerResource) -> dg.AssetsDefinition:
    @dg.asset(
        name="student_labeler",
        deps=["teacher_sample"],
        group_name="labels",
        kinds={"numpy"},
        code_version=f"{options.version(stage.REVISION)}:{teacher.version()}",
        description="Static embeddings distilled from the teacher's encoder plus heads fitted to the teacher's labels "
        "(student/model/); published only when it agrees with the teacher on held-out documents. Use it with "
        "[labeler] name = 'student'.",
        check_specs=[
            dg.AssetCheckSpec(
                AGREEMENT_CHECK,
                asset="student_labeler",
                blocking=True,
                description=f"Held-out agreement with the teacher: >= {options.min_agreement} on format, top topic "
                f"and rating, >= {options.min_sentiment_agreement} on the sentiment sign.",
            )
        ],
    )
    def student_labeler(context: dg.AssetExecutionContext, lake: DataLakeResource, teacher: LabelerResource):
        report = stage.train_from_sample(lake.lake, teacher.labeler(), options)
        if not report.passed:
            context.log.warning(f"student rejected, kept in {report.published}: {report.summary}")
        agreement = {f"agreement_{k}": round(v, 4) for k, v in report.agreement.items()}
        refused = [(f"{field}:{value}", n) for field, values in report.refused.items() for value, n in values.items()]
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(report.published)),
                "published": report.passed,
                "train_docs": report.train_docs,
                "holdout_docs": report.holdout_docs,
                **agreement,
                "refused_values": count_table("value (teacher labels in training)", refused),
                "seconds": dg.MetadataValue.json(report.seconds),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=AGREEMENT_CHECK,
                    passed=report.passed,
                    metadata={**agreement, "summary": report.summary},
                )
            ],
        )

    return student_labeler
