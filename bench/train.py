"""DeepSpeed engine vs a plain PyTorch loop: same model, batch, optimizer and data, side by side.

    python -m bench.train [--preset tiny] [--block-size 256] [--micro-batch 8] [--steps 30]

Single process on CPU (gloo). Each variant builds the model from the same seed, runs 5 warm-up steps then
``--steps`` timed steps of forward + masked loss + backward + AdamW step on the same random blocks, and
reports the median step time, tokens/s, and the ratio DeepSpeed / plain. Peak RSS is reported at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import torch

from condpt_dagster.core.settings import TrainingSettings
from condpt_dagster.training.engine import deepspeed_config
from condpt_dagster.training.model import build_model, count_parameters
from condpt_dagster.training.train import masked_loss

REPO = Path(__file__).resolve().parents[1]

VOCAB = 8192


def make_model(config: TrainingSettings, block: int):
    torch.manual_seed(0)
    return build_model(config, VOCAB, block, eos_id=0, pad_id=1)


def timed_steps(step_fn, batches, warmup: int = 5) -> list[float]:
    times = []
    for i, (ids, mask) in enumerate(batches):
        start = time.perf_counter()
        step_fn(ids, mask)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    for key, value in (
        ("RANK", "0"),
        ("WORLD_SIZE", "1"),
        ("LOCAL_RANK", "0"),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", "29533"),
    ):
        os.environ.setdefault(key, value)
    config = TrainingSettings(preset=args.preset, micro_batch_size=args.micro_batch)
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randint(0, VOCAB, (args.micro_batch, args.block_size), generator=gen),
            torch.ones(args.micro_batch, args.block_size, dtype=torch.bool),
        )
        for _ in range(args.steps + 5)
    ]
    tokens = args.micro_batch * args.block_size

    model = make_model(config, args.block_size)
    params, _ = count_parameters(model)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)

    def plain_step(ids, mask):
        loss = masked_loss(model(input_ids=ids).logits, ids, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optim.step()
        optim.zero_grad(set_to_none=True)

    plain = timed_steps(plain_step, batches)

    import deepspeed

    ds_model = make_model(config, args.block_size)
    ds_optim = torch.optim.AdamW(ds_model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    engine, _, _, _ = deepspeed.initialize(model=ds_model, optimizer=ds_optim, config=deepspeed_config(config))

    def ds_step(ids, mask):
        loss = masked_loss(engine(input_ids=ids).logits, ids, mask)
        engine.backward(loss)
        engine.step()

    ds = timed_steps(ds_step, batches)
    print(
        f"model: {args.preset} ({params / 1e6:.2f}M parameters), block {args.block_size}, micro-batch "
        f"{args.micro_batch}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"deepspeed {deepspeed.__version__}"
    )
    for name, times in (("plain PyTorch loop", plain), ("DeepSpeed engine (ZeRO 0, fp32)", ds)):
        median = statistics.median(times)
        print(f"{name:32s} median step {median * 1000:7.1f} ms  {tokens / median:9,.0f} tokens/s")
    print(f"ratio DeepSpeed / plain step time: {statistics.median(ds) / statistics.median(plain):.3f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
