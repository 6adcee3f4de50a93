"""The condpt code location: one ``Definitions`` built from the typed settings (core/settings.py)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from condpt_dagster.assets.block_exports import build_block_exports
from condpt_dagster.assets.checkpoint import build_checkpoint
from condpt_dagster.assets.clean_documents import build_clean_documents
from condpt_dagster.assets.conditioned_examples import build_conditioned_examples
from condpt_dagster.assets.document_labels import build_document_labels
from condpt_dagster.assets.eval_report import build_eval_report
from condpt_dagster.assets.label_audit import label_audit
from condpt_dagster.assets.labeler_adapter import build_labeler_adapter
from condpt_dagster.assets.raw_documents import build_raw_documents
from condpt_dagster.assets.steering_experiment import build_steering_experiment
from condpt_dagster.assets.student import build_student_labeler, build_teacher_sample
from condpt_dagster.assets.token_blocks import build_token_blocks
from condpt_dagster.assets.tokenizer import build_tokenizer_asset
from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import Settings, load_settings
from condpt_dagster.defs.jobs import build_jobs
from condpt_dagster.defs.schedules import build_relabel_schedule
from condpt_dagster.defs.sensors import build_convergence_sensor, build_inbox_sensor
from condpt_dagster.resources import (
    DataLakeResource,
    KubernetesTrainingRunner,
    LabelerResource,
    SubprocessTrainingRunner,
    TrainingRunner,
)


def training_runner(settings: Settings) -> TrainingRunner:
    """The training launcher as a child process, or in a pod of its own with ``[kubernetes] train_in_pod``."""
    k8s = settings.kubernetes
    if not k8s.train_in_pod:
        return SubprocessTrainingRunner()
    return KubernetesTrainingRunner(
        image=k8s.image or "",
        namespace=k8s.namespace,
        gpus=k8s.gpus_per_pod,
        lake_root=settings.data_root,
        lake_volume_claim=k8s.lake_volume_claim,
    )


def labeler_resources(settings: Settings) -> tuple[LabelerResource, LabelerResource]:
    """The configured labeler (a student from the lake's student/model unless ``student_dir`` says otherwise)
    and the teacher a student learns from: the composite labeler with the same ``[labeler]`` settings."""
    values = settings.labeler.model_dump()
    if values["name"] == "student" and values["student_dir"] is None:
        values["student_dir"] = str(DataLake.at(settings.data_root).student_model)
    return LabelerResource(**values), LabelerResource(**{**values, "name": "composite"})


def build_definitions(settings: Settings) -> dg.Definitions:
    labeler, teacher = labeler_resources(settings)
    conditioning = settings.conditioning
    shard_assets = [
        build_raw_documents(settings.ingest),
        build_clean_documents(settings.clean),
        build_document_labels(labeler),
        build_conditioned_examples(conditioning),
        build_token_blocks(settings.blocks),
        label_audit,
    ]
    tokenizer = build_tokenizer_asset(settings.tokenizer)
    header_format = HeaderFormat.of(conditioning)
    checkpoint = build_checkpoint(settings.training, header_format, settings.clean)
    eval_report = build_eval_report(settings.training.run, settings.eval)
    experiment = build_steering_experiment(settings.training, header_format, settings.experiment)
    jobs = build_jobs(shard_assets, tokenizer, [checkpoint, eval_report])
    return dg.Definitions(
        assets=[
            *shard_assets,
            tokenizer,
            checkpoint,
            eval_report,
            experiment,
            build_block_exports(settings.export),
            build_labeler_adapter(settings.labeler_adapter),
            build_teacher_sample(settings.student, teacher),
            build_student_labeler(settings.student, teacher),
        ],
        jobs=list(jobs.values()),
        # Every step of a run in the run's own process: one import of the code location per run, not per step
        # (a shard's six steps run one after another anyway; pools are still claimed per step).
        executor=dg.in_process_executor,
        sensors=[build_inbox_sensor(jobs["shard_job"]), build_convergence_sensor(jobs["shard_job"])],
        schedules=[build_relabel_schedule(jobs["shard_job"], settings.relabel.cron)],
        resources={
            "lake": DataLakeResource(root=settings.data_root, remote_root=settings.remote_root),
            "labeler": labeler,
            "teacher": teacher,
            "training_runner": training_runner(settings),
            "duckdb": DuckDBResource(database=str(DataLake.at(settings.data_root).audit_db)),
        },
    )


defs = build_definitions(load_settings())
