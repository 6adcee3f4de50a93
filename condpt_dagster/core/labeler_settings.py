"""``[labeler]``: which labeler writes ``document_labels``; ``[student]``: how the student labeler is distilled
from the composite teacher on the user's corpus (labelers/distill.py, assets/student.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from condpt_dagster.core.section import Section


class LabelerSettings(Section):
    SECTION = "labeler"
    name: Literal["composite", "generative", "finetuned", "student"] = Field("composite", description="Which labeler.")
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
        None, ge=1, description="composite: torch threads of a CPU encoder (cores / concurrent runs; default all)."
    )
    student_dir: str | None = Field(
        None, description="student: a trained student folder (default: the lake's student/model, see [student])."
    )
    batch_docs: int = Field(32, ge=1, description="Documents per labeling batch.")
    keep_versions: int = Field(
        5, ge=1, description="Labeler versions of each shard's labels kept in labels/_history (pinned ones always)."
    )

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        needs = {"generative": "model_dir", "finetuned": "adapter_dir"}.get(values.get("name"))
        return [f"name: labeler {values['name']!r} needs {needs}"] if needs and not values.get(needs) else []


class StudentOptions(Section):
    SECTION = "student"
    UNVERSIONED = frozenset({"batch_docs"})
    sample_docs: int = Field(
        2000, ge=50, description="Documents the teacher labels, drawn from every shard in proportion to its size."
    )
    holdout: float = Field(0.2, gt=0, lt=1, description="Share of the sample kept out of training for agreement.")
    min_examples: int = Field(20, ge=1, description="Teacher labels a value needs before the student emits it.")
    epochs: int = Field(8, ge=0, description="Passes tuning the static embeddings (0: as distilled).")
    min_agreement: float = Field(0.90, ge=0, le=1, description="Agreement needed on format, top topic and rating.")
    min_sentiment_agreement: float = Field(0.85, ge=0, le=1, description="Agreement needed on sentiment sign.")
    seed: int = Field(0, description="Sample and holdout draw.")
    batch_docs: int = Field(64, ge=1, description="Documents per teacher labeling batch (memory, not output).")
