"""Metadata helpers shared by the assets: tables for the asset page."""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg


def count_table(label: str, rows: Iterable[tuple[str, int]], count_label: str = "documents") -> dg.TableMetadataValue:
    """A two-column table (value, count) for the asset page, in the given order."""
    return records_table([{label: key, count_label: n} for key, n in rows], {label: "string", count_label: "int"})


def records_table(rows: list[Mapping[str, Any]], types: Mapping[str, str] | None = None) -> dg.TableMetadataValue:
    """A table of dict rows; column types from ``types`` (default: int for ints, float for floats, else string)."""
    columns = list(rows[0]) if rows else list(types or {})

    def kind(column: str) -> str:
        if types and column in types:
            return types[column]
        value = rows[0][column] if rows else None
        return "int" if isinstance(value, int) else "float" if isinstance(value, float) else "string"

    return dg.MetadataValue.table(
        records=[dg.TableRecord(dict(row)) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kind(c)) for c in columns]),
    )
