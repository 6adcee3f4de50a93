"""``condpt audit``: read-only queries on the auditors' DuckDB (canned reports or free SQL)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from condpt_dagster.cli.common import data_option, lake_for


@click.group()
def audit() -> None:
    """Read-only queries on the auditors' DuckDB (audit.duckdb): canned reports or free SQL."""


_format = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
_output = click.option("--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")


def _audit_run(data: str | None, sql: str, params: list, fmt: str, output: str | None) -> None:
    import polars as pl

    from condpt_dagster.stages.label_audit import AuditQueryError, audit_query, open_for_audit

    try:
        con = open_for_audit(lake_for(data))
        frame = audit_query(con, sql, params)
    except (AuditQueryError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "table":
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200):
            text = str(frame)
    elif fmt == "csv":  # CSV has no lists: nested values become JSON text
        nested = [c for c, t in frame.schema.items() if t.is_nested()]
        text = frame.with_columns(
            pl.col(c).map_elements(
                lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v), return_dtype=pl.String
            )
            for c in nested
        ).write_csv()
    else:
        text = frame.write_json()
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(frame)} rows to {output}")
    else:
        click.echo(text)


@audit.command("tags")
@click.option("--top", default=50, show_default=True)
@click.option("--kind", type=click.Choice(["tag", "topic", "rating", "sentiment"]), default="tag", show_default=True)
@_format
@_output
@data_option
def audit_tags(top: int, kind: str, fmt: str, output: str | None, data: str | None) -> None:
    """Most frequent labels of one kind across the corpus."""
    from condpt_dagster.stages.label_audit import CANNED

    _audit_run(data, CANNED["tags"], [kind, top], fmt, output)


@audit.command("ratings")
@click.option("--by", type=click.Choice(["corpus", "shard"]), default="corpus", show_default=True)
@_format
@_output
@data_option
def audit_ratings(by: str, fmt: str, output: str | None, data: str | None) -> None:
    """Rating distribution, for the whole corpus or per shard."""
    from condpt_dagster.stages.label_audit import CANNED

    _audit_run(data, CANNED["ratings" if by == "corpus" else "ratings_by_shard"], [], fmt, output)


@audit.command("lineage")
@click.option("--checkpoint", "run", required=True, help="Training run name (checkpoints/<run>).")
@_format
@_output
@data_option
def audit_lineage(run: str, fmt: str, output: str | None, data: str | None) -> None:
    """What a checkpoint was trained on: per shard, documents, blocks, labeler versions, data version."""
    from condpt_dagster.stages.label_audit import CANNED

    _audit_run(data, CANNED["lineage"], [run], fmt, output)


@audit.command("sql")
@click.argument("query")
@_format
@_output
@data_option
def audit_sql(query: str, fmt: str, output: str | None, data: str | None) -> None:
    """Free read-only SQL (SELECT / EXPLAIN) on the audit tables and views."""
    _audit_run(data, query, [], fmt, output)
