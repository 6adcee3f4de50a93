"""Multi-node training proven on loopback: two torchrun launchers ("nodes") on 127.0.0.1 join one c10d
rendezvous over gloo, train with bit-identical replicas, and resume after one node is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import CONDITIONING, make_lake, monitor_rows, run_processes

from condpt_dagster.core.settings import SettingsError, TrainingSettings
from condpt_dagster.stages.checkpoint import prepare_run
from condpt_dagster.training.launch import LaunchError, launch_command, node_command
from condpt_dagster.training.launch import free_port as free_loopback_port

CONDPT = str(Path(sys.executable).parent / "condpt")


def multinode_config(**overrides) -> TrainingSettings:
    values = dict(
        run="mn",
        max_steps=40,
        checkpoint_every=5,
        log_every=5,
        micro_batch_size=2,
        nnodes=2,
        rdzv_endpoint=f"127.0.0.1:{free_loopback_port()}",
    )
    return TrainingSettings(**{**values, **overrides})


def start_nodes(config: TrainingSettings, spec_path: Path, logs: Path) -> list[subprocess.Popen]:
    """Node 0 as the checkpoint asset starts it, node 1 through `condpt train-node`, each in its own session."""
    commands = [launch_command(config, spec_path), [CONDPT, "train-node", "--spec", str(spec_path), "--node-rank", "1"]]
    nodes = []
    for rank, command in enumerate(commands):
        with open(logs / f"node{rank}.log", "ab") as log:
            nodes.append(
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=logs)
            )
    return nodes


def test_multinode_settings_are_checked():
    with pytest.raises(SettingsError, match="rdzv_endpoint"):
        TrainingSettings(nnodes=2)
    with pytest.raises(SettingsError, match="node_rank 2 must be below nnodes 2"):
        TrainingSettings(nnodes=2, node_rank=2, rdzv_endpoint="10.0.0.1:29400")
    placement = launch_command(multinode_config(rdzv_endpoint="10.0.0.1:29400"), Path("/x/run_spec.json"))
    assert "--rdzv_backend=c10d" in placement and "--rdzv_endpoint=10.0.0.1:29400" in placement
    assert "--nnodes=2" in placement and "--standalone" not in placement


def test_two_nodes_on_loopback_agree_and_resume_after_one_is_killed(tmp_path):
    lake = make_lake(tmp_path / "data")
    config = multinode_config()
    _, spec_path = prepare_run(lake, ["a", "b"], config, CONDITIONING)
    with pytest.raises(LaunchError, match=r"nodes 1\.\.1"):
        node_command(spec_path, 2)
    run_dir = lake.checkpoints_dir / "mn"
    latest = run_dir / "deepspeed" / "latest"

    def latest_step() -> int:
        return int(latest.read_text().strip().removeprefix("step") or 0) if latest.is_file() else 0

    nodes = start_nodes(config, spec_path, tmp_path)
    deadline = time.monotonic() + 300
    while latest_step() < 10 and time.monotonic() < deadline and all(n.poll() is None for n in nodes):
        time.sleep(0.1)
    assert all(n.poll() is None for n in nodes), (tmp_path / "node0.log").read_text()[-3000:]
    os.killpg(nodes[1].pid, signal.SIGKILL)  # node 1 is lost: its launcher and (through PDEATHSIG) its rank
    nodes[1].wait()
    assert nodes[0].wait(timeout=300) != 0  # node 0 notices the lost peer and gives up instead of hanging
    deadline = time.monotonic() + 60
    while run_processes(spec_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not run_processes(spec_path), "a rank outlived its launcher"
    assert not (run_dir / "manifest.json").exists()

    # both nodes again, on a new rendezvous port: the same run (rdzv_endpoint is not part of its identity)
    config = config.model_copy(update={"rdzv_endpoint": f"127.0.0.1:{free_loopback_port()}"})
    _, spec_path = prepare_run(lake, ["a", "b"], config, CONDITIONING)
    nodes = start_nodes(config, spec_path, tmp_path)
    codes = [n.wait(timeout=600) for n in nodes]
    assert codes == [0, 0], (tmp_path / "node0.log").read_text()[-3000:]
    assert "resumed from checkpoint at step" in (tmp_path / "node0.log").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["steps"] == 40 and manifest["resumed_from"] >= 10 and manifest["world_size"] == 2
    replicas = manifest["replica_weights"]
    assert replicas["checked"] and replicas["ranks"] == 2 and len(replicas["digest"]) == 64
    steps = [row["step"] for row in monitor_rows(run_dir, "loss")]  # DeepSpeed's CSV monitor, appended per launch
    assert sorted(set(steps)) == list(range(1, 41))
