"""The Dagster instance configuration condpt writes into a new ``$DAGSTER_HOME``."""

from __future__ import annotations

from pathlib import Path

INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "dagster.yaml"
_OLD_DEFAULT = "telemetry:\n  enabled: false\n"  # what earlier versions wrote: upgraded in place


def ensure_instance_config(home: Path) -> Path:
    """Write condpt's dagster.yaml into ``home`` unless the user already has their own."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") == _OLD_DEFAULT:
        config.write_text(INSTANCE_TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    return config
