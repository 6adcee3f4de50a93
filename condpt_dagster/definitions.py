"""The condpt code location: one ``Definitions`` built from the pipeline settings (see settings.py)."""

import dagster as dg

from condpt_dagster.assets.ingest import build_raw_documents
from condpt_dagster.assets.labels import build_document_labels
from condpt_dagster.ingest import IngestOptions
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.sensors import build_inbox_sensor
from condpt_dagster.settings import Settings, load_settings

SHARD_JOB = "shard_job"


def build_definitions(settings: Settings) -> dg.Definitions:
    labeler = LabelerResource(**settings.labeler)
    shard_assets = [build_raw_documents(IngestOptions(**settings.ingest)), build_document_labels(labeler)]
    shard_job = dg.define_asset_job(
        SHARD_JOB,
        selection=dg.AssetSelection.assets(*shard_assets),
        description="Every per-shard stage for one shard partition.",
    )
    return dg.Definitions(
        assets=shard_assets,
        jobs=[shard_job],
        sensors=[build_inbox_sensor(shard_job)],
        resources={"lake": DataLakeResource(root=settings.data_root), "labeler": labeler},
    )


defs = build_definitions(load_settings())
