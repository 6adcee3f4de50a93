"""``[labeler]``: which labeler writes ``document_labels``; ``[student]``: how the student labeler is distilled
from the composite teacher on the user's corpus (labelers/distill.py, assets/student.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, StrictBool

from condpt_dagster.core.section import Section


@dataclass(frozen=True)
class LabelerKind:
    """One labeler ``[labeler] name`` can select. Its class is named, not imported (``module:Class``), so the
    settings and the code location load without the labeler's libraries; ``labelers.build_labeler`` imports
    it when the labeler is built."""

    factory: str  # module:Class; called with the options (or with settings_class(**options) when set)
    options: tuple[str, ...]  # the [labeler] keys it takes; unset (None) ones are left out
    settings_class: str | None = None  # module:Class the options are wrapped in, for a labeler taking one object
    requires: str | None = None  # a key it cannot be built without
    checked_early: bool = True  # refuse a missing ``requires`` when the settings are read (not only when built)
    renamed: dict[str, str] = field(default_factory=dict)  # [labeler] key -> the labeler's own name for it

    def arguments(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The labeler's constructor options from [labeler] values (unset ones left out)."""
        return {self.renamed.get(k, k): settings[k] for k in self.options if settings.get(k) is not None}


COMPOSITE_KEYS = ("taxonomy_path", "encoder_dir", "quantize", "max_windows", "adapter_dir", "device", "precision")

# Adding a labeler: one entry here (and any new [labeler] key below); the labeler's module does the rest.
LABELERS: dict[str, LabelerKind] = {
    "composite": LabelerKind(
        "condpt_dagster.labelers.composite:CompositeLabeler",
        (*COMPOSITE_KEYS, "rule_workers", "threads"),
        settings_class="condpt_dagster.labelers.composite:CompositeSettings",
        renamed={"encoder_dir": "model_dir"},
    ),
    "generative": LabelerKind(
        "condpt_dagster.labelers.generative:GenerativeLabeler",
        ("model_dir", "adapter_dir", "max_windows", "num_samples", "max_new_tokens", "device"),
        settings_class="condpt_dagster.labelers.generative:GenerativeSettings",
        requires="model_dir",
    ),
    "finetuned": LabelerKind(
        "condpt_dagster.labelers.finetune:FinetunedLabeler", ("adapter_dir",), requires="adapter_dir"
    ),
    # student_dir defaults to the lake's student/model (defs/definitions.py), so it is only checked when built
    "student": LabelerKind(
        "condpt_dagster.labelers.student:StudentLabeler",
        ("student_dir", "threads"),
        requires="student_dir",
        checked_early=False,
    ),
}
LabelerName = Literal[tuple(LABELERS)]  # type: ignore[valid-type]  # the names above, for pydantic and Dagster


class LabelerSettings(Section):
    SECTION = "labeler"
    name: LabelerName = Field("composite", description="Which labeler.")
    taxonomy_path: str | None = Field(None, description="composite: taxonomy TOML (default built-in).")
    encoder_dir: str | None = Field(None, description="composite: sentence encoder folder (default MiniLM).")
    quantize: StrictBool = Field(False, description="composite: dynamic int8 encoder.")
    max_windows: int | None = Field(None, ge=1, description="Windows of ~2,000 words read per document.")
    model_dir: str | None = Field(None, description="generative: local HF seq2seq/causal model folder.")
    adapter_dir: str | None = Field(
        None, description="generative: peft LoRA adapter; finetuned/composite: a labeler_adapter folder."
    )
    num_samples: int | None = Field(None, ge=1, description="generative: answers sampled per window.")
    max_new_tokens: int | None = Field(None, ge=1, description="generative: answer length limit.")
    device: str | None = Field(None, description="composite/generative: torch device, e.g. cuda or cuda:1.")
    precision: str | None = Field(  # a plain str: Dagster config (LabelerResource) has no Literal type
        None, pattern=r"^(fp32|bf16|fp16)$", description="composite: encoder weights: fp32, or bf16/fp16 on a GPU."
    )
    rule_workers: int | None = Field(
        None, ge=0, description="composite: CPU processes for the rule/lexicon taggers beside the encoder."
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="composite: torch threads of a CPU encoder (cores / concurrent runs; default all); "
        "student: numpy's BLAS threads (default 1: one process per core).",
    )
    student_dir: str | None = Field(
        None, description="student: a trained student folder (default: the lake's student/model, see [student])."
    )
    batch_docs: int | None = Field(
        None, ge=1, description="Documents per labeling batch (default: the labeler's own: 512 student, 32 others)."
    )
    keep_versions: int = Field(
        5, ge=1, description="Labeler versions of each shard's labels kept in labels/_history (pinned ones always)."
    )

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        kind = LABELERS.get(values.get("name"))
        needs = kind.requires if kind and kind.checked_early else None
        return [f"name: labeler {values['name']!r} needs {needs}"] if needs and not values.get(needs) else []


class StudentSettings(Section):
    SECTION = "student"
    UNVERSIONED = frozenset({"batch_docs"})
    sample_docs: int = Field(
        2000, ge=50, description="Documents the teacher labels, drawn from every shard in proportion to its size."
    )
    holdout: float = Field(0.2, gt=0, lt=1, description="Share of the sample kept out of training for agreement.")
    min_examples: int = Field(20, ge=1, description="Teacher labels a value needs before the student emits it.")
    epochs: int = Field(8, ge=0, description="Passes tuning the static embeddings (0: as distilled).")
    min_agreement: float = Field(0.90, ge=0, le=1, description="Agreement needed on format, top topic and rating.")
    min_sentiment_agreement: float = Field(
        0.85, ge=0, le=1, description="Agreement needed on sentiment sign (documents the teacher calls polar)."
    )
    seed: int = Field(0, description="Sample and holdout draw.")
    batch_docs: int = Field(64, ge=1, description="Documents per teacher labeling batch (memory, not output).")
