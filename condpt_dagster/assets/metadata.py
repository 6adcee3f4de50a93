"""Metadata helpers shared by the assets: tables for the asset page."""

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa


def png_image(path: Path) -> dg.MetadataValue:
    """A PNG inlined as Markdown, so the asset page shows it without a file server."""
    return dg.MetadataValue.md(f"![{path.name}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})")


def count_table(label: str, rows: Iterable[tuple[str, int]], count_label: str = "documents") -> dg.TableMetadataValue:
    """A two-column table (value, count) for the asset page, in the given order."""
    return records_table([{label: key, count_label: n} for key, n in rows], {label: "string", count_label: "int"})


def column_schema(schema: pa.Schema, descriptions: Mapping[str, str]) -> dg.TableSchema:
    """The asset page's column list: each Parquet column with its type and what it holds; a column without a
    description is a programming error, not an empty cell in the UI."""
    missing = [f.name for f in schema if not descriptions.get(f.name)]
    if missing:
        raise ValueError(f"columns without a description: {', '.join(missing)}")
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type), descriptions[f.name]) for f in schema])


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


SOURCE_SHA_KEY = "source_sha256"  # raw_documents: the sha256 of the inbox file it ingested


def ingested_sources(instance: dg.DagsterInstance, keys: Iterable[str]) -> dict[str, str]:
    """The sha256 of the inbox file behind each shard's latest ``raw_documents`` materialization, whoever ran
    it (the CLI, the inbox sensor, a backfill), in two queries however many shards are asked for."""
    asset = dg.AssetKey("raw_documents")
    latest = instance.get_latest_storage_id_by_partition(
        asset, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=set(keys)
    )
    if not latest:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    out = {}
    for record in records:
        materialization = record.asset_materialization
        value = materialization.metadata.get(SOURCE_SHA_KEY) if materialization else None
        if materialization and value is not None:
            out[materialization.partition] = str(value.value)
    return out
