"""Training configuration, validated before anything is launched."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

TRAIN_REVISION = "1"
PRESETS = ("tiny", "125m", "350m", "1.3b")


class TrainConfigError(ValueError):
    """An invalid training setting, reported before any process is launched."""


@dataclass(frozen=True)
class TrainConfig:
    run: str = "demo"  # checkpoints/<run>/
    preset: Literal["tiny", "125m", "350m", "1.3b"] = "tiny"
    base_model: str | None = None  # local HF causal LM folder to continue pretraining (overrides preset)
    lora: bool = False  # with base_model: train a peft LoRA adapter instead of all weights
    lora_r: int = 16
    zero_stage: int = 0
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # fp32 on CPU, bf16 on GPU
    micro_batch_size: int = 8
    gradient_accumulation: int = 1
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    warmup_steps: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    max_steps: int | None = 200
    max_tokens: int | None = None  # alternative budget: steps = max_tokens / tokens per step
    checkpoint_every: int = 100
    cooldown_fraction: float = 0.0  # last share of steps trained with header tokens removed
    seed: int = 0
    log_every: int = 10
    launcher: Literal["torchrun", "deepspeed"] = "torchrun"
    nproc_per_node: int = 1
    hostfile: str | None = None  # deepspeed launcher: multi-node hostfile
    extra_launcher_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        errors = []
        if self.base_model is None and self.preset not in PRESETS:
            errors.append(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.base_model is not None and not (Path(self.base_model) / "config.json").is_file():
            errors.append(f"base_model {self.base_model!r} is not a Hugging Face model folder (no config.json)")
        if self.lora and self.base_model is None:
            errors.append("lora = true needs base_model (a preset is trained from scratch)")
        if self.zero_stage not in (0, 1, 2, 3):
            errors.append(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            errors.append(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        for name in ("micro_batch_size", "gradient_accumulation", "checkpoint_every", "nproc_per_node", "log_every"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if (self.max_steps is None) == (self.max_tokens is None):
            errors.append("set exactly one budget: max_steps or max_tokens")
        if (self.max_steps is not None and self.max_steps < 1) or (self.max_tokens is not None and self.max_tokens < 1):
            errors.append("the step or token budget must be positive")
        if not 0 <= self.cooldown_fraction < 1:
            errors.append(f"cooldown_fraction must be in [0, 1), got {self.cooldown_fraction}")
        if self.learning_rate <= 0 or not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0:
            errors.append("learning_rate must be > 0, min_lr_ratio in [0, 1], warmup_steps >= 0")
        if self.launcher not in ("torchrun", "deepspeed"):
            errors.append(f"launcher must be torchrun or deepspeed, got {self.launcher!r}")
        if self.hostfile and self.launcher != "deepspeed":
            errors.append("hostfile needs launcher = deepspeed")
        if errors:
            raise TrainConfigError("invalid training config: " + "; ".join(errors))

    def version(self) -> str:
        payload = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("run", "log_every", "launcher", "nproc_per_node", "hostfile", "extra_launcher_args")
        }
        return hashlib.sha256(json.dumps({"revision": TRAIN_REVISION, **payload}, sort_keys=True).encode()).hexdigest()[
            :16
        ]

    def total_steps(self, tokens_per_step: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, -(-int(self.max_tokens or 0) // tokens_per_step))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainConfigError(f"invalid training config: unknown setting(s) {unknown}")
        values = dict(values)
        if "extra_launcher_args" in values:
            values["extra_launcher_args"] = tuple(values["extra_launcher_args"])
        return cls(**values)


@dataclass(frozen=True)
class RunSpec:
    """Everything the training entry point needs; written as JSON by the asset, read by every rank."""

    config: dict[str, Any]
    blocks_dir: str
    shards: list[str]
    tokenizer_dir: str
    out_dir: str
    partition_data_versions: dict[str, str]
    tokenizer_sha256: str
    code_version: str
    conditioning: dict[str, Any]  # template and fields, so generation builds headers the same way

    def identity(self) -> str:
        """Same identity = same training run: config, data and tokenizer. A checkpoint resumes only if equal."""
        cfg = TrainConfig.from_dict(self.config).version()
        payload = json.dumps([cfg, self.partition_data_versions, self.tokenizer_sha256], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
