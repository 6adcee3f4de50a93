from functools import cache

import dagster as dg
from pydantic import Field

from condpt_dagster.labelers import Labeler, build_labeler


@cache
def _cached_labeler(name: str, options: tuple[tuple[str, object], ...]) -> Labeler:
    # One loaded model per process and configuration: Dagster re-creates resources for every run.
    return build_labeler(name, dict(options))


class LabelerResource(dg.ConfigurableResource):
    """Which labeler writes `document_labels`, and its settings. Its version is the asset's code version."""

    name: str = Field(default="composite", description="composite | generative | finetuned")
    taxonomy_path: str | None = Field(default=None, description="composite: taxonomy TOML (default built-in)")
    encoder_dir: str | None = Field(default=None, description="composite: sentence encoder folder")
    quantize: bool = Field(default=False, description="composite: dynamic int8 encoder")
    max_windows: int | None = Field(default=None, description="windows of ~2,000 words read per document")
    model_dir: str | None = Field(default=None, description="generative: local HF seq2seq/causal model folder")
    adapter_dir: str | None = Field(
        default=None,
        description="generative: peft LoRA adapter folder; finetuned/composite: a labeler_adapter folder",
    )
    num_samples: int | None = Field(default=None, description="generative: answers sampled per window")
    max_new_tokens: int | None = Field(default=None, description="generative: answer length limit")
    device: str | None = Field(default=None, description="generative: torch device, e.g. cuda")
    batch_docs: int = Field(default=32, description="documents per labeling batch")

    def _options(self) -> tuple[tuple[str, object], ...]:
        if self.name == "composite":
            fields = {
                "taxonomy_path": self.taxonomy_path,
                "model_dir": self.encoder_dir,
                "quantize": self.quantize,
                "max_windows": self.max_windows,
                "adapter_dir": self.adapter_dir,
            }
        elif self.name == "finetuned":
            fields = {"adapter_dir": self.adapter_dir}
        else:
            fields = {
                "model_dir": self.model_dir,
                "adapter_dir": self.adapter_dir,
                "max_windows": self.max_windows,
                "num_samples": self.num_samples,
                "max_new_tokens": self.max_new_tokens,
                "device": self.device,
            }
        return tuple(sorted((k, v) for k, v in fields.items() if v is not None))

    def labeler(self) -> Labeler:
        return _cached_labeler(self.name, self._options())

    def version(self) -> str:
        return self.labeler().version()
