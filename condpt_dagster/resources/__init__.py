"""Dagster resources: configuration and handles that assets receive by injection."""

from condpt_dagster.resources.data_lake import DataLakeResource
from condpt_dagster.resources.labeler import LabelerResource
from condpt_dagster.resources.training_runner import (
    KubernetesTrainingRunner,
    SubprocessTrainingRunner,
    TrainingRunner,
)

__all__ = [
    "DataLakeResource",
    "KubernetesTrainingRunner",
    "LabelerResource",
    "SubprocessTrainingRunner",
    "TrainingRunner",
]
