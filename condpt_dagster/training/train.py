"""Training entry point, run on every rank by torchrun or the deepspeed launcher:

    python -m torch.distributed.run --standalone --nproc_per_node 1 -m condpt_dagster.training.train --spec run.json

One DeepSpeed engine over a GPT-NeoX model, fed by ``BlockDataset`` through a seeded, resumable sampler
(rank r takes every world_size-th block of the shared permutation). The loss is the mean token
cross-entropy over positions whose ``loss_mask`` is set (header tokens are not trained on unless the blocks
were built without masking). Learning rate: linear warmup, then cosine decay to ``min_lr_ratio``. In the
last ``cooldown_fraction`` of steps header tokens are removed from the input (the metadata-conditioning
cooldown), so the model also works without labels.

Checkpoints (``checkpoints/<run>/deepspeed/step<N>``) carry the step, sampler position and loss history; a
restarted run resumes from the latest one and stops at the planned step count. With ``snapshot_every``, a
loadable export of the model is also written every N steps to ``checkpoints/<run>/snapshots/step<N>/``. Rank 0
alone talks to Dagster through Pipes (logs and the final materialization) and writes the export (training/export.py).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from condpt_dagster.core.faults import failpoint
from condpt_dagster.core.io import atomic_write_text
from condpt_dagster.core.lake import CheckpointFiles
from condpt_dagster.core.settings import TrainingSettings
from condpt_dagster.training.dataset import BlockDataset, ResumableSampler
from condpt_dagster.training.engine import build_engine, monitor_job, require_tensorboard
from condpt_dagster.training.export import export_hf, pipes_metadata, write_outputs
from condpt_dagster.training.guard import die_with_parent
from condpt_dagster.training.model import count_parameters
from condpt_dagster.training.run_spec import RunSpec


class Reporter:
    """Rank 0 prints and forwards to Dagster Pipes (when launched by Dagster); other ranks stay quiet."""

    def __init__(self, rank: int, pipes: Any | None) -> None:
        self.rank, self.pipes = rank, pipes

    def log(self, message: str) -> None:
        if self.rank != 0:
            return
        print(message, flush=True)
        if self.pipes is not None:
            self.pipes.log.info(message)


def masked_loss(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over target positions whose mask is set."""
    targets = input_ids[:, 1:]
    mask = loss_mask[:, 1:].to(logits.dtype)
    losses = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def drop_headers(input_ids: torch.Tensor, loss_mask: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove untrained (header) tokens from each block and right-pad: input without any labels."""
    out_ids = torch.full_like(input_ids, pad_id)
    out_mask = torch.zeros_like(loss_mask)
    for row in range(input_ids.shape[0]):
        kept = input_ids[row][loss_mask[row]]
        out_ids[row, : len(kept)] = kept
        out_mask[row, : len(kept)] = True
    return out_ids, out_mask


# Dense bf16 peak TFLOP/s by device name, for model FLOPs utilization (override: CONDPT_PEAK_TFLOPS).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


def model_flops_per_token(model, context: int) -> float:
    """Training FLOPs per token: 6 N plus attention 12 L d T (the PaLM appendix formula)."""
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    return 6 * n_params + 12 * cfg.num_hidden_layers * cfg.hidden_size * context


def peak_tflops() -> float | None:
    if os.environ.get("CONDPT_PEAK_TFLOPS"):
        return float(os.environ["CONDPT_PEAK_TFLOPS"])
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _setup_distributed_env() -> tuple[int, int]:
    for key, value in (
        ("RANK", "0"),
        ("WORLD_SIZE", "1"),
        ("LOCAL_RANK", "0"),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", "29500"),
    ):
        os.environ.setdefault(key, value)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint so a restart continues exactly."""

    step: int
    history: list[dict[str, float]]
    sampler: ResumableSampler
    resumed_from: int | None = None

    def client_state(self) -> dict[str, Any]:
        return {"step": self.step, "sampler": self.sampler.state_dict(), "history": self.history}


def save_checkpoint(engine, files: CheckpointFiles, step: int, state: dict, rank: int) -> None:
    """Write the step's folder, then point ``latest`` at it atomically (DeepSpeed truncates and rewrites
    ``latest`` in place): a kill at any instant leaves a complete checkpoint for the restart to resume from."""
    engine.save_checkpoint(str(files.deepspeed_dir), tag=f"step{step}", client_state=state, save_latest=False)
    failpoint("checkpoint:before_latest")
    if rank == 0:
        atomic_write_text(files.latest, f"step{step}")


def resume(engine, files: CheckpointFiles, sampler: ResumableSampler) -> Progress:
    """Continue from the latest DeepSpeed checkpoint of this run, if there is one."""
    if not files.latest.is_file():
        return Progress(0, [], sampler)
    _, client = engine.load_checkpoint(str(files.deepspeed_dir))
    sampler.load_state_dict(client["sampler"])
    return Progress(client["step"], client["history"], sampler, resumed_from=client["step"])


def optimizer_step(engine, dataset: BlockDataset, indices, config: TrainingSettings, drop_header: bool) -> torch.Tensor:
    """One optimizer step (all micro batches of this rank); returns the loss averaged over ranks."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    pad_id = dataset.parts[0].meta.pad_id
    losses = []
    for _ in range(config.gradient_accumulation):
        batch_indices = [next(indices) for _ in range(config.micro_batch_size * world)][rank::world]
        items = [dataset[i] for i in batch_indices]
        input_ids = torch.stack([it["input_ids"] for it in items])
        loss_mask = torch.stack([it["loss_mask"] for it in items])
        if drop_header:
            input_ids, loss_mask = drop_headers(input_ids, loss_mask, pad_id)
        input_ids, loss_mask = input_ids.to(engine.device), loss_mask.to(engine.device)
        loss = masked_loss(engine(input_ids=input_ids).logits, input_ids, loss_mask)
        engine.backward(loss)
        engine.step()
        losses.append(loss.detach())
    mean_loss = torch.stack(losses).mean()
    if world > 1:
        torch.distributed.all_reduce(mean_loss)
        mean_loss /= world
    return mean_loss


def open_dataset(spec: RunSpec) -> BlockDataset:
    dataset = BlockDataset(spec.lake, spec.shards)
    if dataset.tokenizer_sha256 != spec.tokenizer_sha256:
        raise SystemExit(
            f"blocks were made with tokenizer {dataset.tokenizer_sha256[:12]}, run expects "
            f"{spec.tokenizer_sha256[:12]}; rebuild token_blocks"
        )
    return dataset


def train(spec: RunSpec, pipes: Any | None = None) -> dict[str, Any]:
    rank, world = _setup_distributed_env()
    config, files = spec.train_config, spec.files
    report = Reporter(rank, pipes)
    torch.manual_seed(config.seed)
    dataset = open_dataset(spec)
    tokens_per_step = config.micro_batch_size * config.gradient_accumulation * world * dataset.block_size
    total_steps = config.total_steps(tokens_per_step)
    if config.tensorboard:
        require_tensorboard()
    engine, scheduler = build_engine(config, dataset, total_steps, (files.monitor_dir, monitor_job(files.latest)))
    progress = resume(engine, files, ResumableSampler(len(dataset), seed=config.seed))
    if progress.resumed_from is not None:
        report.log(f"resumed from checkpoint at step {progress.step}")
    total_params, trainable = count_parameters(engine.module)
    report.log(
        f"training {total_params / 1e6:.2f}M parameters ({trainable / 1e6:.2f}M trainable) on "
        f"{len(dataset)} blocks of {dataset.block_size} tokens, {world} rank(s), {total_steps} steps, "
        f"{tokens_per_step} tokens/step"
    )
    indices = iter(progress.sampler)
    cooldown_start = int(total_steps * (1 - config.cooldown_fraction)) if config.cooldown_fraction else total_steps
    engine.train()
    start_time, start_step = time.perf_counter(), progress.step
    while progress.step < total_steps:
        drop_header = config.drop_headers or progress.step >= cooldown_start
        mean_loss = optimizer_step(engine, dataset, indices, config, drop_header)
        progress.step += 1
        step = progress.step
        progress.history.append({"step": step, "loss": round(float(mean_loss), 5), "lr": scheduler.get_last_lr()[0]})
        engine.monitor.write_events([(f"Train/Steps/{k}", progress.history[-1][k], step) for k in ("loss", "lr")])
        if step % config.log_every == 0 or step == total_steps:
            rate = (step - start_step) * tokens_per_step / max(time.perf_counter() - start_time, 1e-9)
            report.log(
                f"step {step}/{total_steps} loss {float(mean_loss):.4f} lr {scheduler.get_last_lr()[0]:.2e} "
                f"{rate:,.0f} tokens/s"
            )
        if step % config.checkpoint_every == 0 or step == total_steps:
            save_checkpoint(engine, files, step, progress.client_state(), rank)
        if config.snapshot_every and (step % config.snapshot_every == 0 or step == total_steps):
            export_hf(engine, config, spec, rank, files.snapshot(step))  # a point of the experiment's curve
    elapsed = time.perf_counter() - start_time
    replicas = check_replicas(engine, config)
    export_hf(engine, config, spec, rank)
    summary = _summary(
        engine, progress, progress.step - start_step, elapsed, tokens_per_step, dataset.block_size, world
    )
    summary["replica_weights"] = replicas
    if rank == 0:
        write_outputs(spec, progress.history, summary)
    _leave_process_group()
    return summary


def _leave_process_group() -> None:
    """Every rank waits for rank 0's export, then the process group is torn down before the interpreter
    exits: a rank that exits with gloo's threads still running aborts ("terminate called without an active
    exception") and torchrun then fails the whole run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes, in name order: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, param in sorted(module.named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_replicas(engine, config: TrainingSettings) -> dict[str, Any]:
    """Every rank's weights digest, gathered: data parallelism must leave all replicas bit-identical (a rank
    that resumed from another step or a lost gradient all-reduce shows up here instead of in a bad model)."""
    if config.zero_stage == 3:  # parameters are sharded across ranks: no rank holds a full replica
        return {"checked": False, "reason": "ZeRO-3 shards the parameters"}
    import torch.distributed as dist

    digests = [None] * dist.get_world_size()
    dist.all_gather_object(digests, weights_digest(engine.module))
    if len(set(digests)) != 1:
        raise RuntimeError(f"replicas diverged: weights digests per rank {digests}")
    return {"checked": True, "ranks": len(digests), "digest": digests[0]}


def _summary(engine, progress: Progress, trained: int, elapsed: float, tokens_per_step: int, context: int, world: int):
    """The manifest's run figures; throughput only when this launch trained steps (``trained`` is 0 when a
    finished run is launched again: nothing was measured, and 0 tokens/s would read as a real figure)."""
    total_params, trainable = count_parameters(engine.module)
    tokens_per_second = trained * tokens_per_step / max(elapsed, 1e-9) if trained else None
    model_tflops = tokens_per_second * model_flops_per_token(engine.module, context) / 1e12 if trained else None
    peak = peak_tflops()
    return {
        "steps": progress.step,
        "resumed_from": progress.resumed_from,
        "final_loss": progress.history[-1]["loss"] if progress.history else None,
        "tokens_trained": progress.step * tokens_per_step,
        "steps_this_launch": trained,
        "tokens_per_second": round(tokens_per_second, 1) if trained else None,
        "model_tflops_per_second": round(model_tflops, 3) if trained else None,
        "mfu": round(model_tflops / (peak * world), 4) if peak and trained else None,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "parameters": total_params,
        "trainable_parameters": trainable,
        "world_size": world,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="run spec JSON written by the checkpoint asset")
    args = parser.parse_args(argv)
    die_with_parent()  # torchrun starts ranks in their own sessions: tie them to the launcher's life
    spec = RunSpec.load(args.spec)
    rank = int(os.environ.get("RANK", "0"))
    with contextlib.ExitStack() as stack:
        pipes = None
        if rank == 0 and "DAGSTER_PIPES_CONTEXT" in os.environ:
            from dagster_pipes import open_dagster_pipes

            pipes = stack.enter_context(open_dagster_pipes())
        try:
            summary = train(spec, pipes)
        except torch.OutOfMemoryError as exc:
            config = spec.train_config
            raise SystemExit(
                f"out of memory with micro_batch_size={config.micro_batch_size}, zero_stage={config.zero_stage}, "
                f"precision={config.precision}: lower micro_batch_size (raise gradient_accumulation to keep the "
                f"batch) or raise zero_stage. ({exc})"
            ) from exc
        if pipes is not None:
            pipes.report_asset_materialization(metadata=pipes_metadata(spec.files, summary))


if __name__ == "__main__":
    sys.exit(main())
