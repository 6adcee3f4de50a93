"""``condpt audit``: read-only queries on the auditors' DuckDB (canned reports or free SQL)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from condpt_dagster.cli.common import data_option, settings_for
from condpt_dagster.core.lake import DataLake


@click.group()
def audit() -> None:
    """Read-only queries on the auditors' DuckDB (audit.duckdb): canned reports or free SQL."""


def _seconds(_ctx, _param, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 < value <= 86_400):
        raise click.BadParameter(f"{value:g} is not a number of seconds in (0, 86400]")
    return value


def _query_options(command):
    """--format, --output, --force, --timeout and --max-rows, shared by every audit command."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["table", "markdown", "csv", "json"]),
            default="table",
            show_default=True,
        ),
        click.option(
            "--output",
            type=click.Path(dir_okay=False),
            help="Stream every row to a file (no row limit); never inside the lake, never over a file without --force.",
        ),
        click.option("--force", is_flag=True, help="With --output: replace an existing file."),
        click.option(
            "--timeout",
            type=float,
            callback=_seconds,
            help="Seconds before the query is stopped (default [audit] timeout, 60).",
        ),
        click.option(
            "--max-rows", default=10_000, show_default=True, type=click.IntRange(min=1), help="Rows printed at most."
        ),
        data_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _render(frame, fmt: str, first: bool = True) -> str:
    """One batch as text; CSV has no lists, so nested values become JSON text."""
    import polars as pl

    if fmt in ("table", "markdown"):  # no "shape: (rows, columns)" line and no dtype row: a table, as asked
        style = "ASCII_MARKDOWN" if fmt == "markdown" else "UTF8_FULL_CONDENSED"
        options = {"tbl_hide_dataframe_shape": True, "tbl_hide_column_data_types": True, "tbl_formatting": style}
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200, **options):
            return str(frame) + "\n"
    if fmt == "csv":
        nested = [c for c, t in frame.schema.items() if t.is_nested()]
        as_text = [
            pl.col(c).map_elements(lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v), pl.String)
            for c in nested
        ]
        return frame.with_columns(as_text).write_csv(include_header=first)
    rows = frame.write_json().strip()[1:-1]  # a JSON array, streamed batch by batch
    return ("[" if first else ("," if rows else "")) + rows


def _checked_output(output: str, force: bool, lake_root: str) -> Path:
    """--output's path: outside the lake (an auditor never replaces lake files) and new unless --force."""
    path = Path(output).expanduser().resolve()
    if path.is_relative_to(Path(lake_root).resolve()):
        raise click.ClickException(f"--output {output}: inside the lake ({lake_root}); write results elsewhere")
    if path.exists() and not force:
        raise click.ClickException(f"--output {output}: file exists; pass --force to replace it")
    return path


def _audit_run(sql: str, params: list, opts: dict) -> None:
    from condpt_dagster.audit.access import AuditQueryError, audit_query, stream_query
    from condpt_dagster.core.io import atomic_output

    settings = settings_for(opts["data"])
    fmt, output, max_rows = opts["fmt"], opts["output"], opts["max_rows"]
    timeout = opts["timeout"] or settings.audit.timeout
    if output:
        output = _checked_output(output, opts["force"], settings.data_root)
    try:
        con = _connect(opts)
        if output:
            rows = 0
            with atomic_output(output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                for i, batch in enumerate(stream_query(con, sql, params, timeout)):
                    fh.write(_render(batch, fmt, first=i == 0))
                    rows += len(batch)
                fh.write("]\n" if fmt == "json" and rows else "[]\n" if fmt == "json" else "")
            click.echo(f"wrote {rows} rows to {output}")
            return
        frame = audit_query(con, sql, params, timeout=timeout, max_rows=max_rows)
    except (AuditQueryError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_render(frame.head(max_rows), fmt) + ("]" if fmt == "json" else ""))
    if len(frame) > max_rows:
        click.echo(f"(first {max_rows} rows shown; raise --max-rows or use --output FILE for all)", err=True)


def _connect(opts: dict):
    """audit.duckdb (pulled from the bucket first for an object-store lake), or with ``--bucket`` views over
    the bucket's Parquet itself."""
    from condpt_dagster.audit.access import open_bucket_views, open_for_audit
    from condpt_dagster.core.object_store import LakeMirror, ObjectStoreError

    settings = settings_for(opts["data"])
    lake = DataLake.at(settings.data_root)
    if opts.get("bucket") and settings.remote_root is None:
        raise click.ClickException('--bucket needs an object-store lake ([lake] root = "s3://…")')
    try:
        if opts.get("bucket"):
            return open_bucket_views(settings.remote_root, settings.audit)
        if settings.remote_root:
            LakeMirror(settings.remote_root, lake.root).pull(only_dirs=("audit.duckdb",))
    except ObjectStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    return open_for_audit(lake, settings.audit)


def _require_known(what: str, asked: list[str], sql: str, opts: dict) -> None:
    """Fail naming what exists when the auditor asks for a checkpoint or labeler version that does not."""
    from condpt_dagster.audit.access import AuditQueryError, audit_query

    try:
        existing = audit_query(_connect(opts), sql).to_series().to_list()
    except (AuditQueryError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    missing = [a for a in dict.fromkeys(asked) if a not in existing]
    if missing:
        raise click.ClickException(
            f"no {what} {', '.join(map(repr, missing))} in the audit database; known: {', '.join(existing) or 'none'}"
        )


@audit.command("tags")
@click.option("--top", default=50, show_default=True)
@click.option(
    "--kind", type=click.Choice(["tag", "topic", "rating", "sentiment", "format"]), default="tag", show_default=True
)
@_query_options
def audit_tags(top: int, kind: str, **opts) -> None:
    """Most frequent labels of one kind across the corpus."""
    from condpt_dagster.audit.access import CANNED

    _audit_run(CANNED["tags"], [kind, top], opts)


@audit.command("ratings")
@click.option("--by", type=click.Choice(["corpus", "shard"]), default="corpus", show_default=True)
@_query_options
def audit_ratings(by: str, **opts) -> None:
    """Rating distribution, for the whole corpus or per shard."""
    from condpt_dagster.audit.access import CANNED

    _audit_run(CANNED["ratings" if by == "corpus" else "ratings_by_shard"], [], opts)


@audit.command("removed")
@click.option(
    "--by",
    type=click.Choice(["reason", "family", "shard"]),
    default="reason",
    show_default=True,
    help="reason: filter rule or duplicate kind; family: quality filter / exact / near duplicates; shard: both.",
)
@_query_options
def audit_removed(by: str, **opts) -> None:
    """Documents clean_documents removed (quality filters, exact and near-duplicates), counted by reason."""
    from condpt_dagster.audit.access import CANNED

    _audit_run(CANNED[f"removed_by_{by}"], [], opts)


@audit.command("lineage")
@click.option("--checkpoint", "run", required=True, help="Training run name (checkpoints/<run>).")
@_query_options
def audit_lineage(run: str, **opts) -> None:
    """What a checkpoint was trained on: per shard, documents, blocks, labeler versions, data version."""
    from condpt_dagster.audit.access import CANNED

    _require_known("checkpoint", [run], "SELECT DISTINCT run FROM checkpoints ORDER BY run", opts)
    _audit_run(CANNED["lineage"], [run], opts)


@audit.command("diff")
@click.option("--from", "from_version", required=True, help="Labeler version labels were diffed from.")
@click.option("--to", "to_version", required=True, help="Labeler version they were diffed to.")
@click.option("--shard", help="One shard (default: every shard that has both versions).")
@click.option("--top", default=20, show_default=True, help="Tags gained / lost shown.")
@_query_options
def audit_diff(from_version: str, to_version: str, shard: str | None, top: int, **opts) -> None:
    """How labels changed between two kept labeler versions: per field, a confusion table, tags gained/lost."""
    from condpt_dagster.audit.access import CANNED

    if opts["output"]:
        raise click.UsageError("diff prints three tables; redirect stdout instead of --output")
    known = "SELECT DISTINCT labeler_version FROM label_history ORDER BY labeler_version"
    _require_known("labeler version", [from_version, to_version], known, opts)
    params = [from_version, to_version, shard]
    for title, key, extra in (
        ("documents changed, per field", "diff_summary", []),
        ("confusion (from -> to)", "diff_confusion", []),
        ("tags gained and lost", "diff_tags", [top]),
    ):
        if opts["fmt"] == "table":
            click.echo(f"-- {title}")
        _audit_run(CANNED[key], params + extra, opts)


@audit.command("show")
@click.option("--id", "doc_id", required=True, help="The document's id (clean_documents / labels).")
@click.option("--shard", help="Only this shard (an id may recur across shards).")
@click.option("--timeout", type=float, callback=_seconds, help="Seconds before a query is stopped.")
@data_option
def audit_show(doc_id: str, shard: str | None, timeout: float | None, data: str | None) -> None:
    """One document: a text excerpt, every label with its score and the evidence behind it, or why it was
    removed."""
    from condpt_dagster.audit.access import AuditQueryError, audit_query
    from condpt_dagster.audit.card import DOCUMENT_SQL, REMOVED_SQL, render_card

    opts = {"data": data}
    timeout = timeout or settings_for(data).audit.timeout
    params = [doc_id, shard, shard]
    try:
        con = _connect(opts)
        documents = audit_query(con, DOCUMENT_SQL, params, timeout=timeout, max_rows=100).to_dicts()
        removed = audit_query(con, REMOVED_SQL, params, timeout=timeout, max_rows=100).to_dicts()
    except (AuditQueryError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not documents and not removed:
        where = f" in shard {shard}" if shard else ""
        raise click.ClickException(f"no document {doc_id!r}{where} in the audit database (materialize label_audit)")
    click.echo(render_card(documents, removed))


@audit.command("sql")
@click.argument("query")
@click.option(
    "--bucket",
    is_flag=True,
    help="Object-store lake: query its Parquet in the bucket directly (views documents, removed, quarantine, "
    "labels, conditioned, each with a filename column) instead of audit.duckdb.",
)
@_query_options
def audit_sql(query: str, **opts) -> None:
    """Free read-only SQL (SELECT / EXPLAIN) on the audit tables and views."""
    _audit_run(query, [], opts)
