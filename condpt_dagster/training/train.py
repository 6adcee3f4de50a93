"""Training entry point, run on every rank by torchrun or the deepspeed launcher:

    python -m torch.distributed.run --standalone --nproc_per_node 1 -m condpt_dagster.training.train --spec run.json

One DeepSpeed engine over a GPT-NeoX model, fed by ``BlockDataset`` through a seeded, resumable sampler
(rank r takes every world_size-th block of the shared permutation). The loss is the mean token
cross-entropy over positions whose ``loss_mask`` is set (header tokens are not trained on unless the blocks
were built without masking). Learning rate: linear warmup, then cosine decay to ``min_lr_ratio``. In the
last ``cooldown_fraction`` of steps header tokens are removed from the input (the metadata-conditioning
cooldown), so the model also works without labels.

Checkpoints (``<out>/deepspeed/step<N>``) carry the step, sampler position and loss history; a restarted
run resumes from the latest one and stops at the planned step count. Rank 0 alone talks to Dagster through
Pipes (logs and the final materialization), exports a Hugging Face folder (``<out>/hf``), writes
``manifest.json``, ``metrics.jsonl`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from condpt_dagster.dataset import BlockDataset, ResumableSampler
from condpt_dagster.training.config import RunSpec, TrainConfig
from condpt_dagster.training.model import build_model, count_parameters


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


def lr_lambda(total_steps: int, warmup: int, min_ratio: float):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


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


def deepspeed_config(config: TrainConfig) -> dict[str, Any]:
    return {
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


def _loss_png(history: list[dict[str, float]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def export_hf(engine, config: TrainConfig, spec: RunSpec, out: Path, rank: int) -> Path:
    """Save a Hugging Face folder (safetensors, tokenizer, generation config) that from_pretrained loads."""
    import deepspeed
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    module = engine.module
    hf_dir = out / "hf"
    gather = (
        deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
        if config.zero_stage == 3
        else contextlib.nullcontext()
    )
    with gather:
        if rank != 0:
            return hf_dir
        tmp = out / ".hf.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model = module
        if config.lora:
            model.save_pretrained(tmp / "adapter")
            model = model.merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
    specials = json.loads((Path(spec.tokenizer_dir) / "special_tokens.json").read_text(encoding="utf-8"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(Path(spec.tokenizer_dir) / "tokenizer.json"),
        eos_token=specials["eos"],
        pad_token=specials["pad"],
        bos_token=specials["eos"],
    )
    tokenizer.save_pretrained(tmp)
    shutil.copy(Path(spec.tokenizer_dir) / "special_tokens.json", tmp / "special_tokens.json")
    never = [tokenizer.convert_tokens_to_ids(t) for t in [specials["pad"], specials["body"], *specials["controls"]]]
    GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        suppress_tokens=never,  # control tokens are never generated
        do_sample=True,
        temperature=0.8,
        top_p=0.95,
        max_new_tokens=128,
    ).save_pretrained(tmp)
    (tmp / "condpt.json").write_text(json.dumps({"conditioning": spec.conditioning, "run": config.run}, indent=1))
    shutil.rmtree(hf_dir, ignore_errors=True)
    os.replace(tmp, hf_dir)
    return hf_dir


def train(spec: RunSpec, pipes: Any | None = None) -> dict[str, Any]:
    import deepspeed

    rank, world = _setup_distributed_env()
    config = TrainConfig.from_dict(spec.config)
    report = Reporter(rank, pipes)
    torch.manual_seed(config.seed)
    out = Path(spec.out_dir)
    ckpt_dir = out / "deepspeed"
    dataset = BlockDataset(spec.blocks_dir, spec.shards)
    if dataset.tokenizer_sha256 != spec.tokenizer_sha256:
        raise SystemExit(
            f"blocks were made with tokenizer {dataset.tokenizer_sha256[:12]}, run expects "
            f"{spec.tokenizer_sha256[:12]}; rebuild token_blocks"
        )
    meta = dataset.parts[0].meta
    model = build_model(config, meta["vocab_size"], dataset.block_size, meta["eos_id"], meta["pad_id"])
    total_params, trainable = count_parameters(model)
    tokens_per_step = config.micro_batch_size * config.gradient_accumulation * world * dataset.block_size
    total_steps = config.total_steps(tokens_per_step)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        betas=(0.9, 0.95),
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, config.warmup_steps, config.min_lr_ratio)
    )
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=deepspeed_config(config)
    )
    sampler = ResumableSampler(len(dataset), seed=config.seed)
    step, history, resumed_from = 0, [], None
    if (ckpt_dir / "latest").is_file():
        _, client = engine.load_checkpoint(str(ckpt_dir))
        step, history, resumed_from = client["step"], client["history"], client["step"]
        sampler.load_state_dict(client["sampler"])
        report.log(f"resumed from checkpoint at step {step}")
    report.log(
        f"training {total_params / 1e6:.2f}M parameters ({trainable / 1e6:.2f}M trainable) on "
        f"{len(dataset)} blocks of {dataset.block_size} tokens, {world} rank(s), {total_steps} steps, "
        f"{tokens_per_step} tokens/step"
    )
    indices = iter(sampler)
    device = engine.device
    cooldown_start = int(total_steps * (1 - config.cooldown_fraction)) if config.cooldown_fraction else total_steps
    engine.train()
    start_time, start_step = time.perf_counter(), step
    while step < total_steps:
        losses = []
        for _ in range(config.gradient_accumulation):
            batch_indices = [next(indices) for _ in range(config.micro_batch_size * world)][rank::world]
            items = [dataset[i] for i in batch_indices]
            input_ids = torch.stack([it["input_ids"] for it in items])
            loss_mask = torch.stack([it["loss_mask"] for it in items])
            if step >= cooldown_start:
                input_ids, loss_mask = drop_headers(input_ids, loss_mask, meta["pad_id"])
            input_ids, loss_mask = input_ids.to(device), loss_mask.to(device)
            logits = engine(input_ids=input_ids).logits
            loss = masked_loss(logits, input_ids, loss_mask)
            engine.backward(loss)
            engine.step()
            losses.append(loss.detach())
        step += 1
        mean_loss = torch.stack(losses).mean()
        if world > 1:
            torch.distributed.all_reduce(mean_loss)
            mean_loss /= world
        history.append({"step": step, "loss": round(float(mean_loss), 5), "lr": scheduler.get_last_lr()[0]})
        if step % config.log_every == 0 or step == total_steps:
            elapsed = time.perf_counter() - start_time
            rate = (step - start_step) * tokens_per_step / max(elapsed, 1e-9)
            report.log(
                f"step {step}/{total_steps} loss {float(mean_loss):.4f} lr {history[-1]['lr']:.2e} {rate:,.0f} tokens/s"
            )
        if step % config.checkpoint_every == 0 or step == total_steps:
            client_state = {
                "step": step,
                "sampler": {"seed": sampler.seed, "position": sampler.position},
                "history": history,
            }
            engine.save_checkpoint(str(ckpt_dir), tag=f"step{step}", client_state=client_state)
    elapsed = time.perf_counter() - start_time
    hf_dir = export_hf(engine, config, spec, out, rank)
    tokens_per_second = (step - start_step) * tokens_per_step / max(elapsed, 1e-9)
    model_tflops = tokens_per_second * model_flops_per_token(engine.module, dataset.block_size) / 1e12
    peak = peak_tflops()
    summary = {
        "steps": step,
        "resumed_from": resumed_from,
        "final_loss": history[-1]["loss"] if history else None,
        "tokens_trained": step * tokens_per_step,
        "tokens_per_second": round(tokens_per_second, 1),
        "model_tflops_per_second": round(model_tflops, 3),
        "mfu": round(model_tflops / (peak * world), 4) if peak else None,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "parameters": total_params,
        "trainable_parameters": trainable,
        "world_size": world,
    }
    if rank == 0:
        _write_outputs(out, spec, config, history, summary, hf_dir)
    return summary


def _write_outputs(out: Path, spec: RunSpec, config: TrainConfig, history, summary, hf_dir: Path) -> None:
    manifest = {
        "run": config.run,
        "config": spec.config,
        "config_version": config.version(),
        "code_version": spec.code_version,
        "tokenizer_sha256": spec.tokenizer_sha256,
        "shards": spec.shards,
        "partition_data_versions": spec.partition_data_versions,
        "hf_dir": str(hf_dir),
        **summary,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history), encoding="utf-8")
    (out / "loss.png").write_bytes(_loss_png(history))


def _metadata(out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    png = base64.b64encode((out / "loss.png").read_bytes()).decode()
    return {
        **{k: v for k, v in summary.items() if v is not None},
        "hf_model": {"raw_value": str(out / "hf"), "type": "path"},
        "manifest": {"raw_value": str(out / "manifest.json"), "type": "path"},
        "loss_curve": {"raw_value": f"![loss curve](data:image/png;base64,{png})", "type": "md"},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="run spec JSON written by the checkpoint asset")
    args = parser.parse_args(argv)
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
            config = TrainConfig.from_dict(spec.config)
            raise SystemExit(
                f"out of memory with micro_batch_size={config.micro_batch_size}, zero_stage={config.zero_stage}, "
                f"precision={config.precision}: lower micro_batch_size (raise gradient_accumulation to keep the "
                f"batch) or raise zero_stage. ({exc})"
            ) from exc
        if pipes is not None:
            pipes.report_asset_materialization(metadata=_metadata(Path(spec.out_dir), summary))


if __name__ == "__main__":
    sys.exit(main())
