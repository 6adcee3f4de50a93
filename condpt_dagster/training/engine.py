"""The DeepSpeed engine of a training run: its settings (ZeRO, precision, the monitor that writes the training
curves), the optimizer and learning-rate schedule around the model, and DeepSpeed's start-up noise kept quiet.

Curves: DeepSpeed's own monitor writes ``checkpoints/<run>/monitor/from_step<N>/``, one folder per launch (CSV
always: ``Train_Steps_loss.csv`` and ``Train_Steps_lr.csv`` per optimizer step, plus DeepSpeed's per-sample
series; TensorBoard events too with ``[training] tensorboard = true``, each launch a run in TensorBoard), files
users open in the tools they know. A resumed launch starts at its checkpoint's step, so steps trained again
after the last checkpoint appear in two folders (the later one is the run's); ``loss.png`` (drawn from the
checkpointed history) has each step once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from condpt_dagster.core.settings import TrainingSettings
from condpt_dagster.training.dataset import BlockDataset
from condpt_dagster.training.model import build_model


def lr_lambda(total_steps: int, warmup: int, min_ratio: float):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def deepspeed_config(config: TrainingSettings, monitor_dir: Path | None = None, job: str = "") -> dict[str, Any]:
    """The engine's settings; with ``monitor_dir``, DeepSpeed's own monitor writes the training curves there
    (CSV always, TensorBoard events with ``[training] tensorboard``), the files users open in tools they know."""
    monitors = {}
    if monitor_dir is not None:
        target = {"output_path": str(monitor_dir), "job_name": job}
        monitors = {
            "csv_monitor": {"enabled": True, **target},
            "tensorboard": {"enabled": config.tensorboard, **target},
        }
    return {
        **monitors,
        "train_micro_batch_size_per_gpu": config.micro_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "gradient_clipping": config.grad_clip,
        "zero_optimization": {"stage": config.zero_stage},
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": config.precision == "bf16"},
        "fp16": {"enabled": config.precision == "fp16"},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def monitor_job(latest: Path) -> str:
    """One monitor folder per launch, named after the step it starts from (the ``latest`` checkpoint it will
    resume, else 0): DeepSpeed's CSV monitor appends and writes its header once per process, so launches that
    shared a file would mix headers into the rows."""
    start = latest.read_text().strip().removeprefix("step") if latest.is_file() else "0"
    return f"from_step{int(start) if start.isdigit() else 0}"


def require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401  # what DeepSpeed's TensorBoard monitor writes with
    except ImportError:
        raise SystemExit(
            "[training] tensorboard = true needs the tensorboard package: pip install tensorboard"
        ) from None


@contextlib.contextmanager
def deepspeed_notices_hidden():
    """Keep DeepSpeed's start-up notices (the accelerator it fell back to, the communication op it built) out
    of the output when the CLI asked for quiet (``CONDPT_QUIET=1``; ``condpt --verbose`` shows them)."""
    if os.environ.get("CONDPT_QUIET") != "1":
        yield
        return
    notice = lambda record: not record.getMessage().startswith("Setting accelerator to CPU")  # noqa: E731
    logging.getLogger("DeepSpeed").addFilter(notice)  # getLogger: the logger DeepSpeed creates on import
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # a bare print() of the op build
            yield
    finally:
        logging.getLogger("DeepSpeed").removeFilter(notice)


def build_engine(
    config: TrainingSettings, dataset: BlockDataset, total_steps: int, monitor: tuple[Path, str] | None = None
):
    """The GPT-NeoX model with AdamW and warmup+cosine, wrapped in a DeepSpeed engine."""
    with deepspeed_notices_hidden():
        import deepspeed

    meta = dataset.parts[0].meta
    model = build_model(config, meta.vocab_size, dataset.block_size, meta.eos_id, meta.pad_id)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        betas=(0.9, 0.95),
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, config.warmup_steps, config.min_lr_ratio)
    )
    with deepspeed_notices_hidden():
        engine, _, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=deepspeed_config(config, *(monitor or ()))
        )
    return engine, scheduler
