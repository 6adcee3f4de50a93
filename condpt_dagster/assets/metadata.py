"""Metadata helpers shared by the assets."""

from collections.abc import Iterable

import dagster as dg


def count_table(label: str, rows: Iterable[tuple[str, int]], count_label: str = "documents") -> dg.TableMetadataValue:
    """A two-column table (value, count) for the asset page, in the given order."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({label: key, count_label: n}) for key, n in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(label, "string"), dg.TableColumn(count_label, "int")]),
    )
