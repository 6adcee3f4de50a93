"""``[training]`` and ``[experiment]`` (with ``[experiment.training]`` overriding ``[training]`` for its arms):
the settings of a training run and of the steering experiment that trains several. Re-exported by settings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictBool

from condpt_dagster.core.section import Section, SettingsError


class TrainingSettings(Section):
    SECTION = "training"
    UNVERSIONED = frozenset(  # where and how it runs, not what it trains
        {"run", "log_every", "launcher", "nproc_per_node", "hostfile", "extra_launcher_args", "snapshot_every"}
        | {"node_rank", "rdzv_endpoint", "tensorboard"}
    )
    run: str = Field("demo", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*", description="checkpoints/<run>/.")
    preset: Literal["tiny", "125m", "350m", "1.3b"] = Field("tiny", description="GPT-NeoX shapes.")
    base_model: str | None = Field(None, description="Local HF causal LM to continue pretraining.")
    lora: StrictBool = Field(False, description="With base_model: train a peft LoRA adapter only.")
    lora_r: int = Field(16, ge=1)
    zero_stage: int = Field(0, ge=0, le=3, description="DeepSpeed ZeRO stage (0-3).")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="fp32 on CPU, bf16 on GPU.")
    micro_batch_size: int = Field(8, ge=1, description="Blocks per rank per micro step.")
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine decays to learning_rate * this.")
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    max_steps: int | None = Field(200, ge=1, description="Step budget (or max_tokens, exactly one).")
    max_tokens: int | None = Field(None, ge=1, description="Token budget: steps = max_tokens / tokens per step.")
    checkpoint_every: int = Field(100, ge=1)
    cooldown_fraction: float = Field(0.0, ge=0, lt=1, description="Last share of steps without header tokens.")
    drop_headers: StrictBool = Field(
        False, description="Remove header tokens from every block: the matched unconditional baseline."
    )
    snapshot_every: int | None = Field(
        None, ge=1, description="Also export a loadable model every N steps (checkpoints/<run>/snapshots/)."
    )
    seed: int = 0
    log_every: int = Field(10, ge=1)
    tensorboard: StrictBool = Field(
        False,
        description="Also write the curves as TensorBoard events (checkpoints/<run>/monitor/; needs tensorboard).",
    )
    launcher: Literal["torchrun", "deepspeed"] = "torchrun"
    nproc_per_node: int = Field(1, ge=1, description="Ranks per node (GPUs).")
    hostfile: str | None = Field(None, description="deepspeed launcher: multi-node hostfile.")
    nnodes: int = Field(1, ge=1, description="torchrun: nodes taking part (each runs `condpt train-node`).")
    node_rank: int = Field(0, ge=0, description="torchrun: this node's rank (the Dagster run's node is 0).")
    rdzv_endpoint: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d+$", description="torchrun: c10d rendezvous host:port (nnodes > 1)."
    )
    extra_launcher_args: tuple[str, ...] = ()

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        problems = []
        base = values.get("base_model")
        if base is not None and not (Path(str(base)) / "config.json").is_file():
            problems.append(f"base_model {base!r} is not a Hugging Face model folder (no config.json)")
        if values.get("lora") is True and base is None:
            problems.append("lora = true needs base_model (a preset is trained from scratch)")
        if (values.get("max_steps") is None) == (values.get("max_tokens") is None):
            problems.append("set exactly one budget: max_steps or max_tokens")
        if values.get("hostfile") and values.get("launcher") != "deepspeed":
            problems.append("hostfile needs launcher = deepspeed")
        nnodes = values.get("nnodes", 1)
        if isinstance(nnodes, int) and nnodes > 1:
            if values.get("launcher", "torchrun") != "torchrun":
                problems.append("nnodes > 1 is for launcher = torchrun (the deepspeed launcher takes a hostfile)")
            if not values.get("rdzv_endpoint"):
                problems.append('nnodes > 1 needs rdzv_endpoint = "host:port" reachable from every node')
        node_rank = values.get("node_rank", 0)
        if isinstance(nnodes, int) and isinstance(node_rank, int) and node_rank >= nnodes:
            problems.append(f"node_rank {node_rank} must be below nnodes {nnodes}")
        return problems

    def total_steps(self, tokens_per_step: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, -(-int(self.max_tokens or 0) // tokens_per_step))


class ExperimentSettings(Section):
    """``condpt experiment steer``: conditional vs matched unconditional model, judged independently."""

    SECTION = "experiment"
    name: str = Field("steer", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*", description="experiments/<name>/.")
    training: dict[str, Any] = Field(
        default_factory=dict, description="[training] settings overridden for both runs (model, steps, ...)."
    )
    curve_points: int = Field(4, ge=1, description="Checkpoints evaluated for the lift-vs-tokens curve.")
    samples_per_value: int = Field(32, ge=32, description="Generations per requested value.")
    baseline_samples: int = Field(128, ge=32, description="Unconditional generations for the base rates.")
    max_new_tokens: int = Field(48, ge=8)
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    guidance: float = Field(
        1.0,
        gt=0,
        description="Classifier-free guidance scale of a second set of generations at the final snapshot, "
        "judged like the first (lift with and without it per field); 1: none.",
    )
    cooldown_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="A third arm: the conditional model with its last share of steps without headers (MeCo's "
        "cooldown), judged like the others; 0: no third arm.",
    )
    values_per_field: int = Field(3, ge=1, description="Most frequent format/topic/tag values requested.")
    min_value_docs: int = Field(10, ge=1, description="Training documents a value needs to be requested.")
    heldout_docs: int = Field(200, ge=2, description="Held-out documents for the losses.")
    max_body_tokens: int = Field(192, ge=8)
    judge_docs: int = Field(4000, ge=20, description="Training documents the bag-of-words judges are fitted on.")
    bootstrap_reps: int = Field(1000, ge=100)
    seed: int = 0

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        overrides = values.get("training")
        if not isinstance(overrides, dict):
            return []
        reserved = sorted({"run", "drop_headers", "snapshot_every"} & set(overrides))
        problems = [f"training.{k} is set by the experiment itself" for k in reserved]
        try:
            TrainingSettings.model_validate(_with_budget({k: v for k, v in overrides.items() if k not in reserved}))
        except SettingsError as exc:
            problems += [
                f"training: {p.replace('[training] ', '')}"
                for p in str(exc).removeprefix("invalid settings: ").split("; ")
            ]
        return problems

    def roles(self) -> tuple[str, ...]:
        """The arms to train: conditional and unconditional, and the cooldown arm when asked."""
        return ("conditional", "unconditional", *(("cooldown",) if self.cooldown_fraction else ()))

    def train_config(
        self, base: TrainingSettings, role: Literal["conditional", "unconditional", "cooldown"], block_size: int
    ):
        """One arm's run: the [training] settings with this section's overrides, snapshots for the curve."""
        merged = TrainingSettings.model_validate({**base.model_dump(), **_with_budget(self.training)})
        steps = merged.total_steps(merged.micro_batch_size * merged.gradient_accumulation * block_size)
        return merged.model_copy(
            update={
                "run": f"{self.name}-{role}",
                "drop_headers": role == "unconditional",
                "cooldown_fraction": self.cooldown_fraction if role == "cooldown" else merged.cooldown_fraction,
                "snapshot_every": max(1, steps // self.curve_points),
            }
        )


def _with_budget(values: dict[str, Any]) -> dict[str, Any]:
    """A token budget given alone replaces the default step budget."""
    if "max_tokens" in values and "max_steps" not in values:
        return {**values, "max_steps": None}
    return values
