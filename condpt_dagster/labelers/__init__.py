"""Document labelers. ``build_labeler(name, options)`` is how the pipeline selects one.

- ``composite`` (default): rule/lexicon taggers + all-MiniLM-L6-v2 encoder taggers, offline on CPU.
- ``finetuned``: tags from a LoRA adapter trained on the user's tagged documents (``adapter_dir``, made by
  the ``labeler_adapter`` asset); the composite labeler can also include it (``adapter_dir``).
- ``student``: static embeddings + linear heads distilled from the composite labeler on the user's corpus
  (``student_dir``, made by the ``student_labeler`` asset): the same fields at thousands of documents/s.
- ``generative``: a local Hugging Face seq2seq/causal model (+ optional peft LoRA adapter), the reference
  approach; needs ``model_dir``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from condpt_dagster.core.settings import LabelerSettings
from condpt_dagster.labelers.base import LABEL_SCHEMA, DocumentLabels, Labeler

LABELERS = ("composite", "generative", "finetuned", "student")


def build_labeler(name: str, options: dict[str, Any] | None = None) -> Labeler:
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if name == "composite":
        from condpt_dagster.labelers.composite import CompositeConfig, CompositeLabeler

        return CompositeLabeler(CompositeConfig(**options))
    if name == "generative":
        from condpt_dagster.labelers.generative import GenerativeConfig, GenerativeLabeler

        if "model_dir" not in options:
            raise ValueError("labeler 'generative' needs model_dir (a local Hugging Face model folder)")
        return GenerativeLabeler(GenerativeConfig(**options))
    if name == "finetuned":
        from condpt_dagster.labelers.finetune import FinetunedLabeler

        if "adapter_dir" not in options:
            raise ValueError("labeler 'finetuned' needs adapter_dir (a labeler_adapter folder)")
        return FinetunedLabeler(options["adapter_dir"])
    if name == "student":
        from condpt_dagster.labelers.student import StudentLabeler

        if "student_dir" not in options:
            raise ValueError("labeler 'student' needs student_dir (a student_labeler folder)")
        return StudentLabeler(options["student_dir"])
    raise ValueError(f"unknown labeler {name!r}; choose one of {', '.join(LABELERS)}")


def labeler_options(settings: LabelerSettings) -> dict[str, Any]:
    """The ``[labeler]`` settings that apply to the chosen labeler, as its constructor options."""
    if settings.name == "composite":
        fields = {
            "taxonomy_path": settings.taxonomy_path,
            "model_dir": settings.encoder_dir,
            "quantize": settings.quantize,
            "max_windows": settings.max_windows,
            "adapter_dir": settings.adapter_dir,
            "device": settings.device,
            "precision": settings.precision,
            "rule_workers": settings.rule_workers,
            "threads": settings.threads,
        }
    elif settings.name == "finetuned":
        fields = {"adapter_dir": settings.adapter_dir}
    elif settings.name == "student":
        fields = {"student_dir": settings.student_dir}
    else:
        fields = {
            "model_dir": settings.model_dir,
            "adapter_dir": settings.adapter_dir,
            "max_windows": settings.max_windows,
            "num_samples": settings.num_samples,
            "max_new_tokens": settings.max_new_tokens,
            "device": settings.device,
        }
    return {k: v for k, v in fields.items() if v is not None}


@cache
def _cached_labeler(name: str, options: tuple[tuple[str, Any], ...]) -> Labeler:
    # One loaded model per process and configuration: Dagster re-creates resources for every run.
    return build_labeler(name, dict(options))


def labeler_for(settings: LabelerSettings) -> Labeler:
    """The labeler these settings describe, built once per process and configuration."""
    return _cached_labeler(settings.name, tuple(sorted(labeler_options(settings).items())))


__all__ = ["LABELERS", "LABEL_SCHEMA", "DocumentLabels", "Labeler", "build_labeler", "labeler_for"]
