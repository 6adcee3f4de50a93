"""Sampling from a trained checkpoint with labels written in front of the prompt, as in training."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import HF_SETTINGS_NAME, CheckpointFiles
from condpt_dagster.core.vocab import CLOSED_FIELDS


def resolve_hf_dir(checkpoint: str | Path) -> Path:
    """Accept ``checkpoints/<run>`` or its ``hf/`` export."""
    path = Path(checkpoint)
    for candidate in (path, CheckpointFiles(path).hf_dir):
        if (candidate / "config.json").is_file() and (candidate / HF_SETTINGS_NAME).is_file():
            return candidate
    raise FileNotFoundError(f"{checkpoint}: no exported condpt model (expected config.json and condpt.json)")


class UnseenValueError(ValueError):
    """A requested label value the model never saw in training."""


def check_seen(labels: dict[str, Any], seen: dict[str, dict[str, int]] | None) -> None:
    """Refuse closed-field values absent from the training data, listing the known ones (``seen``: field ->
    value -> documents, from the run's export; runs exported before it was recorded are not checked)."""
    if not seen:
        return
    problems = []
    for name, value in labels.items():
        if name not in seen or name not in CLOSED_FIELDS:
            continue
        known = seen[name]
        asked = value if isinstance(value, list | tuple) else [value]
        unseen = [str(v) for v in asked if str(v) not in known]
        if unseen:
            problems.append(f"{name} {', '.join(unseen)} (known: {', '.join(sorted(known)) or 'none'})")
    if problems:
        raise UnseenValueError("never seen in training: " + "; ".join(problems))


@dataclass
class ConditionalGenerator:
    hf_dir: Path
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.hf_dir = resolve_hf_dir(self.hf_dir)
        settings = self.hf_dir / HF_SETTINGS_NAME
        self.header_format = HeaderFormat.from_json(json.loads(settings.read_text())["conditioning"], str(settings))
        self.tokenizer = ConditionTokenizer(self.hf_dir)
        self.model = AutoModelForCausalLM.from_pretrained(self.hf_dir, use_safetensors=True).to(self.device).eval()
        self.generation_config = GenerationConfig.from_pretrained(self.hf_dir)

    @property
    def seen_values(self) -> dict[str, dict[str, int]]:
        """Field -> value -> training documents, for the closed fields (empty for older exports)."""
        return self.header_format.seen_values

    def header(self, labels: dict[str, Any]) -> str:
        return self.header_format.header(labels)

    def prompt_ids(self, labels: dict[str, Any] | None, prompt: str) -> list[int]:
        encoded = self.tokenizer.encode_docs([self.header(labels) if labels else ""], [prompt])
        return encoded.header_ids[0] + encoded.body_ids[0]

    @torch.inference_mode()
    def _continue(
        self, prompt_ids: list[int], seed: int, overrides: dict[str, Any], unguided_ids: list[int] | None = None
    ) -> torch.Tensor:
        """The new ids of every returned sequence (one row each) after ``prompt_ids``; with ``unguided_ids`` and
        a ``guidance_scale`` in ``overrides``, classifier-free guidance against that context (transformers'
        ``UnbatchedClassifierFreeGuidanceLogitsProcessor``: log p_uncond + scale * (log p_cond - log p_uncond))."""
        torch.manual_seed(seed)
        ids = torch.tensor([prompt_ids], device=self.device)
        config = copy.deepcopy(self.generation_config)
        config.update(**overrides)
        guided = {}
        if unguided_ids is not None and config.guidance_scale not in (None, 1):
            # one row per returned sequence: the processor extends the context with each row's new token
            rows = config.num_return_sequences or 1
            guided = {"negative_prompt_ids": torch.tensor([unguided_ids] * rows, device=self.device)}
        out = self.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config, **guided
        )
        return out[:, ids.shape[1] :]

    def generate(
        self, labels: dict[str, Any] | None, prompt: str = "", seed: int = 0, guidance: float = 1.0, **overrides: Any
    ) -> list[int]:
        """New token ids after ``header + <|body|> + prompt``; control tokens are suppressed. ``guidance`` > 1
        pushes the next-token distribution away from the same prompt without its header (classifier-free
        guidance, the header-less context being what header dropout trained the model on)."""
        prompt_ids, settings, unguided = self._guided(labels, prompt, guidance, overrides)
        return self._continue(prompt_ids, seed, settings, unguided)[0].tolist()

    def sample(
        self,
        labels: dict[str, Any] | None,
        n: int,
        seed: int = 0,
        batch_size: int = 32,
        guidance: float = 1.0,
        **overrides: Any,
    ) -> list[str]:
        """``n`` texts after ``header + <|body|>``, generated ``batch_size`` at a time (num_return_sequences)."""
        prompt, settings, unguided = self._guided(labels, "", guidance, overrides)
        texts: list[str] = []
        for start in range(0, n, batch_size):
            batch = {**settings, "num_return_sequences": min(batch_size, n - start)}
            texts += [self.text(row.tolist()) for row in self._continue(prompt, seed + start, batch, unguided)]
        return texts

    def _guided(
        self, labels: dict[str, Any] | None, prompt: str, guidance: float, overrides: dict[str, Any]
    ) -> tuple[list[int], dict[str, Any], list[int] | None]:
        """(prompt ids, generation settings, header-less prompt ids or None when unguided)."""
        if guidance <= 0:
            raise ValueError(f"guidance {guidance} must be positive (1: none)")
        prompt_ids = self.prompt_ids(labels, prompt)
        if guidance == 1 or not labels:
            return prompt_ids, overrides, None
        return prompt_ids, {**overrides, "guidance_scale": guidance}, self.prompt_ids(None, prompt)

    def text(self, new_ids: list[int]) -> str:
        return self.tokenizer.header_tok.decode(new_ids, skip_special_tokens=True)
