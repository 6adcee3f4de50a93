"""``condpt train-node``: join a multi-node training run from another machine."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("train-node")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The run's spec (checkpoints/<run>/run_spec.json on the shared lake), written by the checkpoint asset.",
)
@click.option("--node-rank", required=True, type=int, help="This node's rank, 1 .. nnodes-1 (node 0 is Dagster's).")
def train_node(spec_path: Path, node_rank: int) -> None:
    """Run this node's share of a `[training] nnodes > 1` run: torchrun joins node 0's c10d rendezvous.

    Start it on every other node once the checkpoint asset is launched (or before: the rendezvous waits).
    The process becomes the launcher (exec), so a service manager or `kubectl` sees and stops it directly.
    """
    from condpt_dagster.training.launch import LaunchError, node_command

    try:
        command = node_command(spec_path, node_rank)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from exc
    os.execvp(command[0], command)
