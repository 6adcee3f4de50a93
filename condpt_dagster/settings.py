"""Pipeline settings: one optional TOML file, read when the code location loads.

Lookup: ``$CONDPT_CONFIG``, else ``./condpt.toml`` if present, else defaults. ``$CONDPT_DATA_ROOT`` overrides
``[lake] root``. Settings that determine an asset's output feed its ``code_version``, so editing them and
reloading the code location marks the affected partitions unsynced in the UI.

Example::

    [lake]
    root = "/srv/condpt"

    [ingest]
    unicode_form = "NFC"
    max_chars = 1000000
    oversize = "truncate"

    [labeler]
    name = "composite"          # or "generative" with model_dir (+ adapter_dir)
    quantize = false
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATA_ROOT = "data"


@dataclass(frozen=True)
class Settings:
    data_root: str = DEFAULT_DATA_ROOT
    ingest: dict[str, Any] = field(default_factory=dict)
    labeler: dict[str, Any] = field(default_factory=dict)
    conditioning: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    labeler_adapter: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    relabel: dict[str, Any] = field(default_factory=dict)
    source: str = "defaults"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    path = path or os.environ.get("CONDPT_CONFIG")
    if path is None and Path("condpt.toml").is_file():
        path = "condpt.toml"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read condpt settings: {exc}") from exc
    data_root = os.environ.get("CONDPT_DATA_ROOT") or raw.get("lake", {}).get("root", DEFAULT_DATA_ROOT)
    return Settings(
        data_root=str(Path(data_root).expanduser().resolve()),
        ingest=dict(raw.get("ingest", {})),
        labeler=dict(raw.get("labeler", {})),
        conditioning=dict(raw.get("conditioning", {})),
        tokenizer=dict(raw.get("tokenizer", {})),
        blocks=dict(raw.get("blocks", {})),
        training=dict(raw.get("training", {})),
        labeler_adapter=dict(raw.get("labeler_adapter", {})),
        eval=dict(raw.get("eval", {})),
        relabel=dict(raw.get("relabel", {})),
        source=str(path or "defaults"),
    )
