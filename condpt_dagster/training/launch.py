"""The launcher command of a training run: torchrun (one node, or several joined by c10d rendezvous) or the
deepspeed launcher, behind ``training.guard``. ``stages/checkpoint.py`` writes the run spec it launches;
``condpt train-node`` builds the command another node runs to join."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from condpt_dagster.core.settings import SettingsError, TrainingSettings
from condpt_dagster.training.run_spec import RunSpec


class LaunchError(SettingsError):
    """Training cannot start: missing inputs or inputs that do not fit together."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(config: TrainingSettings, spec_path: Path) -> list[str]:
    """torchrun (one node, or ``nnodes`` joined by c10d rendezvous) or the deepspeed launcher (GPUs, hostfile
    for several nodes), behind the guard that ties every process to its parent and holds this node's lock on
    the run folder (node 0 holds the folder's own lock, the one a second launch of the run is refused by)."""
    lock = spec_path.parent / (".lock" if config.node_rank == 0 else f".lock.node{config.node_rank}")
    guard = [sys.executable, "-m", "condpt_dagster.training.guard", "--lock", str(lock), "--"]
    return guard + _launcher(config, spec_path)


def node_command(spec_path: Path, node_rank: int) -> list[str]:
    """The command another node runs to join the training run of ``spec_path`` (same spec, its own rank)."""
    config = RunSpec.load(spec_path).train_config
    if config.nnodes < 2:
        raise LaunchError(f"{spec_path}: run {config.run!r} is a single-node run (nnodes = 1)")
    if not 0 < node_rank < config.nnodes:
        raise LaunchError(f"node rank {node_rank} out of range: run {config.run!r} has nodes 1..{config.nnodes - 1}")
    return launch_command(config.model_copy(update={"node_rank": node_rank}), spec_path)


def _launcher(config: TrainingSettings, spec_path: Path) -> list[str]:
    entry = ["condpt_dagster.training.train", "--spec", str(spec_path)]
    if config.launcher == "torchrun":
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            *_torchrun_placement(config),
            f"--nproc_per_node={config.nproc_per_node}",
            *config.extra_launcher_args,
            "-m",
            *entry,
        ]
    launcher = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    placement = ["--hostfile", config.hostfile] if config.hostfile else ["--num_gpus", str(config.nproc_per_node)]
    return [launcher, *placement, "--master_port", str(free_port()), *config.extra_launcher_args, "--module", *entry]


def _torchrun_placement(config: TrainingSettings) -> list[str]:
    if config.nnodes == 1:
        return ["--standalone"]
    # c10d rendezvous: node 0's agent hosts the store at rdzv_endpoint; the run name keeps runs apart
    return [
        f"--nnodes={config.nnodes}",
        f"--node_rank={config.node_rank}",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint={config.rdzv_endpoint}",
        f"--rdzv_id={config.run}",
        "--max_restarts=0",
    ]
