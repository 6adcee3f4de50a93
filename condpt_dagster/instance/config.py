"""The Dagster instance configuration condpt writes into a new ``$DAGSTER_HOME``, and a fast check that a
production instance's PostgreSQL answers (deploy/dagster.yaml)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from condpt_dagster.core.io import atomic_write_text

INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "dagster.yaml"
_OLD_DEFAULT = "telemetry:\n  enabled: false\n"  # what earlier versions wrote: upgraded in place
# The run launcher's module before it moved out of the code location's package (condpt 0.x, issue 31).
_OLD_LAUNCHER, LAUNCHER = "condpt_dagster.defs.run_launcher", "condpt_dagster.instance.run_launcher"
_OLD_LAUNCHER_PATH, LAUNCHER_PATH = "condpt_dagster/defs/run_launcher.py", "condpt_dagster/instance/run_launcher.py"


class InstanceConfigError(ValueError):
    """A user's dagster.yaml that this version of condpt cannot run with."""


def _old_templates() -> set[str]:
    """Every dagster.yaml an earlier condpt wrote by itself: replaced by the current one without asking."""
    current = INSTANCE_TEMPLATE.read_text(encoding="utf-8")
    return {_OLD_DEFAULT, current.replace(LAUNCHER, _OLD_LAUNCHER).replace(LAUNCHER_PATH, _OLD_LAUNCHER_PATH)}


def ensure_instance_config(home: Path) -> Path:
    """Write condpt's dagster.yaml into ``home`` unless the user already has their own; a user's file that
    still names the run launcher's old module is refused with the line to change (Dagster would only say
    that a module is missing)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = config.read_text(encoding="utf-8") if config.exists() else None
    if text is None or text in _old_templates():
        atomic_write_text(config, INSTANCE_TEMPLATE.read_text(encoding="utf-8"))
    elif _OLD_LAUNCHER in text:
        raise InstanceConfigError(
            f"{config}: run_launcher module {_OLD_LAUNCHER} was renamed; write `module: {LAUNCHER}` instead"
        )
    return config


class StorageUnreachable(RuntimeError):
    """The instance's PostgreSQL cannot be used: not configured completely, or not answering."""


def _resolve(value: Any, config: Path) -> Any:
    """A dagster.yaml scalar: literal, or ``{env: NAME}`` read from the environment (never from the file)."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise StorageUnreachable(f"{config}: environment variable {name} is not set (the storage needs it)")
        return os.environ[name]
    return value


def postgres_url(config: Path) -> str | None:
    """The PostgreSQL URL of the instance's ``storage.postgres`` (credentials included), or None."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    postgres = (settings.get("storage") or {}).get("postgres")
    if not postgres:
        return None
    if "postgres_url" in postgres:
        return str(_resolve(postgres["postgres_url"], config))
    db = {key: _resolve(value, config) for key, value in postgres["postgres_db"].items()}
    user, password = quote(str(db["username"]), safe=""), quote(str(db["password"]), safe="")
    return f"postgresql://{user}:{password}@{db['hostname']}:{db.get('port', 5432)}/{db['db_name']}"


def masked_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def probe_storage(home: Path, timeout_s: int = 5) -> None:
    """Fail at once, naming the server, when the instance's PostgreSQL does not answer.

    dagster-postgres retries a refused connection for about 15 seconds and then reports only "too many
    retries"; one probe first turns that into the URL (password masked) and the driver's reason."""
    url = postgres_url(home / "dagster.yaml")
    if url is None:
        return
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=timeout_s).close()
    except psycopg2.OperationalError as exc:
        reason = " ".join(str(exc).split()).replace(unquote(urlsplit(url).password or "\0"), "***")
        raise StorageUnreachable(f"PostgreSQL {masked_url(url)} unreachable: {reason}") from exc
