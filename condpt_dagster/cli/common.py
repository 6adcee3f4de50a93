"""What every command shares: the group, the data lake option, settings and the Dagster instance."""

from __future__ import annotations

import os
from pathlib import Path

import click

from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import Settings, SettingsError, load_settings


def settings_for(data: str | None) -> Settings:
    """The settings file's values, with ``--data`` overriding the lake root; errors without a traceback."""
    if data:
        os.environ["CONDPT_DATA_ROOT"] = str(Path(data).resolve())
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def lake_for(data: str | None) -> DataLake:
    return DataLake.at(settings_for(data).data_root)


def dagster_instance(lake: DataLake):
    """The persistent Dagster instance of this data lake (``$DAGSTER_HOME``, default ``<data>/dagster_home``)."""
    import dagster as dg

    from condpt_dagster.instance.config import (
        InstanceConfigError,
        StorageUnreachable,
        ensure_instance_config,
        probe_storage,
    )

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(lake.dagster_home)))
    try:
        ensure_instance_config(home)
        probe_storage(home)
    except (InstanceConfigError, StorageUnreachable) as exc:
        raise click.ClickException(str(exc)) from exc
    return dg.DagsterInstance.get()


def split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


data_option = click.option(
    "--data", envvar="CONDPT_DATA_ROOT", default=None, help="Data lake root (default: ./data or condpt.toml)."
)


# What the default output keeps out: other libraries' deprecation notices, previews and progress bars (the
# user's own progress and results stay); `condpt --verbose` or CONDPT_VERBOSE=1 brings them back. Processes
# condpt starts (training ranks) inherit the environment part.
QUIET_ENV = {
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning,ignore::UserWarning",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' weight-loading bars follow huggingface_hub's switch
    "CONDPT_QUIET": "1",  # training ranks: DeepSpeed's start-up notices (training/train.py)
}
_OWN_MODULES = r"(?!condpt_dagster)"  # warnings raised in condpt's own modules stay visible


def quiet_third_party() -> None:
    import warnings

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=_OWN_MODULES)  # e.g. Dagster's preview and beta notices


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--verbose", is_flag=True, envvar="CONDPT_VERBOSE", help="Also show other libraries' warnings and progress bars."
)
def main(verbose: bool) -> None:
    """condpt: conditional pretraining data pipeline (Dagster code location: condpt_dagster)."""
    if not verbose:
        quiet_third_party()
