import dagster as dg
from pydantic import Field

from condpt_dagster.core.lake import DataLake


class DataLakeResource(dg.ConfigurableResource):
    """Where the data lake lives; every asset reads and writes below ``root``."""

    root: str = Field(description="Data lake root folder (absolute, or relative to the working directory).")

    @property
    def lake(self) -> DataLake:
        return DataLake.at(self.root)
