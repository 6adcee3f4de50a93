"""Sampling from a trained checkpoint with labels written in front of the prompt, as in training."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from condpt_dagster.core.lake import HF_SETTINGS_NAME, CheckpointFiles
from condpt_dagster.stages.conditioned_examples import TEMPLATES
from condpt_dagster.stages.tokenizer import ConditionTokenizer


def resolve_hf_dir(checkpoint: str | Path) -> Path:
    """Accept ``checkpoints/<run>`` or its ``hf/`` export."""
    path = Path(checkpoint)
    for candidate in (path, CheckpointFiles(path).hf_dir):
        if (candidate / "config.json").is_file() and (candidate / HF_SETTINGS_NAME).is_file():
            return candidate
    raise FileNotFoundError(f"{checkpoint}: no exported condpt model (expected config.json and condpt.json)")


@dataclass
class ConditionalGenerator:
    hf_dir: Path
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.hf_dir = resolve_hf_dir(self.hf_dir)
        self.settings: dict[str, Any] = json.loads((self.hf_dir / HF_SETTINGS_NAME).read_text())["conditioning"]
        self.tokenizer = ConditionTokenizer(self.hf_dir)
        self.model = AutoModelForCausalLM.from_pretrained(self.hf_dir, use_safetensors=True).to(self.device).eval()
        self.generation_config = GenerationConfig.from_pretrained(self.hf_dir)

    def header(self, labels: dict[str, Any]) -> str:
        return TEMPLATES[self.settings["template"]](labels, self.settings["fields"])

    def prompt_ids(self, labels: dict[str, Any] | None, prompt: str) -> list[int]:
        encoded = self.tokenizer.encode_docs([self.header(labels) if labels else ""], [prompt])
        return encoded.header_ids[0] + encoded.body_ids[0]

    @torch.inference_mode()
    def generate(self, labels: dict[str, Any] | None, prompt: str = "", seed: int = 0, **overrides: Any) -> list[int]:
        """New token ids after ``header + <|body|> + prompt``; control tokens are suppressed."""
        torch.manual_seed(seed)
        ids = torch.tensor([self.prompt_ids(labels, prompt)], device=self.device)
        config = copy.deepcopy(self.generation_config)
        config.update(**overrides)
        out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
        return out[0, ids.shape[1] :].tolist()

    def text(self, new_ids: list[int]) -> str:
        return self.tokenizer.header_tok.decode(new_ids, skip_special_tokens=True)
