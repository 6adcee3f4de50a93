"""Checks before a launch, the run spec, and the launcher command (torchrun or deepspeed)."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from condpt_dagster.blocks import block_paths, blocks_data_version
from condpt_dagster.lake import DataLake
from condpt_dagster.tokenizer import tokenizer_sha256
from condpt_dagster.training.config import RunSpec, TrainConfig, TrainConfigError


def prepare_run(
    lake: DataLake, shards: list[str], config: TrainConfig, conditioning: dict[str, Any], code_version: str
) -> tuple[RunSpec, Path]:
    """Validate inputs and write ``checkpoints/<run>/run.json``; raise TrainConfigError with the reason."""
    if not (lake.tokenizer_dir / "tokenizer.json").is_file():
        raise TrainConfigError(f"{lake.tokenizer_dir}: no tokenizer.json; materialize the tokenizer asset first")
    with_blocks = [s for s in shards if block_paths(lake.blocks_dir, s)["meta"].is_file()]
    if not with_blocks:
        raise TrainConfigError(f"{lake.blocks_dir}: no token blocks for any shard; materialize token_blocks first")
    tok_sha = tokenizer_sha256(lake.tokenizer_dir)
    stale = []
    for shard in with_blocks:
        meta = json.loads(block_paths(lake.blocks_dir, shard)["meta"].read_text(encoding="utf-8"))
        if meta["tokenizer_sha256"] != tok_sha:
            stale.append(shard)
    if stale:
        raise TrainConfigError(
            f"blocks of shard(s) {', '.join(stale)} were made with another tokenizer "
            f"(current {tok_sha[:12]}); rematerialize token_blocks for them"
        )
    out = lake.checkpoints_dir / config.run
    out.mkdir(parents=True, exist_ok=True)
    spec = RunSpec(
        config=json.loads(json.dumps(config.__dict__)),
        blocks_dir=str(lake.blocks_dir),
        shards=with_blocks,
        tokenizer_dir=str(lake.tokenizer_dir),
        out_dir=str(out),
        partition_data_versions={s: blocks_data_version(lake.blocks_dir, s) for s in with_blocks},
        tokenizer_sha256=tok_sha,
        code_version=code_version,
        conditioning=conditioning,
    )
    _discard_other_runs(out, spec.identity())
    path = out / "run.json"
    spec.save(path)
    return spec, path


def _discard_other_runs(out: Path, identity: str) -> None:
    """Checkpoints of a run with other config, data or tokenizer must not be resumed: remove them."""
    marker = out / "deepspeed" / "identity"
    if (out / "deepspeed").exists() and (not marker.is_file() or marker.read_text().strip() != identity):
        shutil.rmtree(out / "deepspeed")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(identity)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(config: TrainConfig, spec_path: Path) -> list[str]:
    """torchrun (one node, CPU or GPU) or the deepspeed launcher (GPUs, hostfile for several nodes)."""
    entry = ["condpt_dagster.training.train", "--spec", str(spec_path)]
    if config.launcher == "torchrun":
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={config.nproc_per_node}",
            *config.extra_launcher_args,
            "-m",
            *entry,
        ]
    launcher = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    placement = ["--hostfile", config.hostfile] if config.hostfile else ["--num_gpus", str(config.nproc_per_node)]
    return [launcher, *placement, "--master_port", str(free_port()), *config.extra_launcher_args, "--module", *entry]
