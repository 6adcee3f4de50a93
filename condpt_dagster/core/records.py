"""Typed records of the lake's JSON files (block meta, checkpoint manifest, experiment summary): one way to
read them, checked field by field, and one way to write them, atomically and in field order."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from condpt_dagster.core.io import atomic_write_text

Record = TypeVar("Record")


def load_record(path: Path, cls: type[Record], what: str) -> Record:
    """``path`` read as a ``cls``; a file that is not one is refused naming the file, ``what`` it should be
    and the first field that is wrong. Unknown keys are ignored, so files from a newer condpt still load."""
    try:
        return msgspec.convert(json.loads(path.read_text(encoding="utf-8")), cls)
    except (ValueError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: not {what}: {exc}") from exc


def save_record(path: Path, record: Any) -> None:
    atomic_write_text(path, json.dumps(asdict(record), indent=1))
