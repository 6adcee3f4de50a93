"""Document labelers. ``build_labeler(name, options)`` is how the pipeline selects one, by the registry
``core.labeler_settings.LABELERS`` (a new labeler: one entry there and its module here).

- ``composite`` (default): rule/lexicon taggers + all-MiniLM-L6-v2 encoder taggers, offline on CPU.
- ``finetuned``: tags from a LoRA adapter trained on the user's tagged documents (``adapter_dir``, made by
  the ``labeler_adapter`` asset); the composite labeler can also include it (``adapter_dir``).
- ``student``: static embeddings + linear heads distilled from the composite labeler on the user's corpus
  (``student_dir``, made by the ``student_labeler`` asset): the same fields at thousands of documents/s.
- ``generative``: a local Hugging Face seq2seq/causal model (+ optional peft LoRA adapter), the reference
  approach; needs ``model_dir``.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from condpt_dagster.core.labeler_settings import LABELERS, LabelerSettings
from condpt_dagster.labelers.base import LABEL_SCHEMA, DocumentLabels, Labeler


def _named(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_labeler(name: str, options: dict[str, Any] | None = None) -> Labeler:
    """The labeler ``name`` of the registry (``core.labeler_settings.LABELERS``), built from its options."""
    kind = LABELERS.get(name)
    if kind is None:
        raise ValueError(f"unknown labeler {name!r}; choose one of {', '.join(LABELERS)}")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if kind.requires and kind.requires not in options:
        raise ValueError(f"labeler {name!r} needs {kind.requires} ({REQUIRED_WHY.get(kind.requires, 'a path')})")
    factory = _named(kind.factory)
    if kind.settings_class:
        return factory(_named(kind.settings_class)(**options))
    return factory(**options)


REQUIRED_WHY = {
    "model_dir": "a local Hugging Face model folder",
    "adapter_dir": "a labeler_adapter folder",
    "student_dir": "a student_labeler folder",
}


def labeler_options(settings: LabelerSettings) -> dict[str, Any]:
    """The ``[labeler]`` settings that apply to the chosen labeler, as its constructor options."""
    return LABELERS[settings.name].arguments(settings.model_dump())


@cache
def _cached_labeler(name: str, options: tuple[tuple[str, Any], ...]) -> Labeler:
    # One loaded model per process and configuration: Dagster re-creates resources for every run.
    return build_labeler(name, dict(options))


def labeler_for(settings: LabelerSettings) -> Labeler:
    """The labeler these settings describe, built once per process and configuration."""
    return _cached_labeler(settings.name, tuple(sorted(labeler_options(settings).items())))


__all__ = ["LABELERS", "LABEL_SCHEMA", "DocumentLabels", "Labeler", "build_labeler", "labeler_for"]
