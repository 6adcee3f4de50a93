"""Dagster resources: configuration and handles that assets receive by injection."""

from condpt_dagster.resources.data_lake import DataLakeResource
from condpt_dagster.resources.labeler import LabelerResource

__all__ = ["DataLakeResource", "LabelerResource"]
