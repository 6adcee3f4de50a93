"""Dagster resources: configuration and handles that assets receive by injection."""

from condpt_dagster.resources.labeler import LabelerResource
from condpt_dagster.resources.lake import DataLakeResource

__all__ = ["DataLakeResource", "LabelerResource"]
