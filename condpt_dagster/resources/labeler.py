import dagster as dg

from condpt_dagster.core.settings import LabelerSettings
from condpt_dagster.labelers import Labeler, labeler_for


class LabelerResource(dg.ConfigurableResource, LabelerSettings):
    """Which labeler writes `document_labels`, and its settings (the ``[labeler]`` section's fields, declared
    once in core/settings.py). Its version is the asset's code version."""

    def labeler(self) -> Labeler:
        return labeler_for(self)

    def version(self) -> str:
        return self.labeler().version()
