"""Stage ``checkpoint``: checks before a launch, the run spec, and the launcher command (torchrun or deepspeed).

The training itself runs in other processes (:mod:`condpt_dagster.training.train`); this module decides
whether a launch can work and writes ``checkpoints/<run>/run.json`` for it.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from condpt_dagster.core.io import clear_orphans
from condpt_dagster.core.lake import CheckpointFiles, DataLake
from condpt_dagster.core.settings import SettingsError, TrainConfig
from condpt_dagster.core.vocab import CLOSED_FIELDS
from condpt_dagster.stages.token_blocks import blocks_data_version
from condpt_dagster.stages.tokenizer import tokenizer_sha256
from condpt_dagster.training.guard import RunFolderBusy, check_run_lock
from condpt_dagster.training.run_spec import REVISION, RunSpec


class LaunchError(SettingsError):
    """Training cannot start: missing inputs or inputs that do not fit together."""


def _shards_with_current_blocks(lake: DataLake, shards: list[str], tok_sha: str) -> list[str]:
    with_blocks = [s for s in shards if lake.blocks(s).meta.is_file()]
    if not with_blocks:
        raise LaunchError(f"{lake.blocks_dir}: no token blocks for any shard; materialize token_blocks first")
    stale = [
        s
        for s in with_blocks
        if json.loads(lake.blocks(s).meta.read_text(encoding="utf-8"))["tokenizer_sha256"] != tok_sha
    ]
    if stale:
        raise LaunchError(
            f"blocks of shard(s) {', '.join(stale)} were made with another tokenizer "
            f"(current {tok_sha[:12]}); rematerialize token_blocks for them"
        )
    return with_blocks


def shard_lineage(lake: DataLake, shard: str) -> dict[str, str | None]:
    """What a shard's blocks were built from, as their meta.json records it (None for older blocks)."""
    meta = json.loads(lake.blocks(shard).meta.read_text(encoding="utf-8"))
    return {
        "labels_version": meta.get("labels_version"),
        "conditioned_data_version": meta.get("conditioned_data_version"),
        "blocks_data_version": blocks_data_version(lake.blocks(shard)),
    }


OPEN_FIELDS = ("tags",)  # counted (the experiment requests frequent ones) but never refused as unseen
MAX_SEEN_TAGS = 200


def training_label_paths(lake: DataLake, shard: str) -> tuple[Path | None, set[str]]:
    """The labels file a shard's blocks were built from (the pinned version when kept, else the current
    labels; None when there is none) and the ids of the documents packed into the blocks."""
    version = json.loads(lake.blocks(shard).meta.read_text(encoding="utf-8")).get("labels_version")
    pinned = lake.label_history(shard, version) if version else None
    labels_path = pinned if pinned is not None and pinned.is_file() else lake.labels(shard)
    packed = set(pq.read_table(lake.blocks(shard).spans, columns=["id"]).column("id").to_pylist())
    return (labels_path if labels_path.is_file() else None), packed


def seen_values(lake: DataLake, shards: list[str], fields: list[str]) -> dict[str, dict[str, int]]:
    """Field -> value -> documents, over the documents packed into the shards' blocks, read from the labels
    version their headers were built from: what a model trained on them can be asked for."""
    wanted = [f for f in fields if f in CLOSED_FIELDS or f in OPEN_FIELDS]
    counts: dict[str, Counter] = {f: Counter() for f in wanted}
    for shard in shards:
        labels_path, packed = training_label_paths(lake, shard)
        if labels_path is None:
            continue
        present = [f for f in wanted if f in pq.read_schema(labels_path).names]
        for row in pq.read_table(labels_path, columns=["id", *present]).to_pylist():
            if row["id"] not in packed:
                continue
            for name in present:
                value = row[name]
                values = value if isinstance(value, list) else [] if value is None else [value]
                counts[name].update(str(v) for v in values if str(v) not in ("", "unknown"))
    return {f: dict(c.most_common(MAX_SEEN_TAGS if f in OPEN_FIELDS else None)) for f, c in counts.items() if c}


def prepare_run(
    lake: DataLake, shards: list[str], config: TrainConfig, conditioning: dict[str, Any]
) -> tuple[RunSpec, Path]:
    """Validate inputs and write ``checkpoints/<run>/run.json``; raise LaunchError with the reason."""
    if not lake.tokenizer.tokenizer_json.is_file():
        raise LaunchError(f"{lake.tokenizer_dir}: no tokenizer.json; materialize the tokenizer asset first")
    tok_sha = tokenizer_sha256(lake.tokenizer_dir)
    with_blocks = _shards_with_current_blocks(lake, shards, tok_sha)
    files = lake.checkpoint(config.run)
    files.folder.mkdir(parents=True, exist_ok=True)
    try:
        check_run_lock(files.lock)  # never rewrite the folder of a run that is still training
    except RunFolderBusy as exc:
        raise LaunchError(str(exc)) from exc
    clear_orphans([files.run_spec, files.manifest, files.metrics, files.loss_plot, files.hf_dir])
    spec = RunSpec(
        config=config.model_dump(mode="json"),
        lake_root=str(lake.root),
        shards=with_blocks,
        partition_data_versions={s: blocks_data_version(lake.blocks(s)) for s in with_blocks},
        tokenizer_sha256=tok_sha,
        code_version=config.version(REVISION),
        conditioning={**conditioning, "seen_values": seen_values(lake, with_blocks, conditioning.get("fields", []))},
        lineage={s: shard_lineage(lake, s) for s in with_blocks},
    )
    _discard_other_runs(files, spec.identity())
    spec.save(files.run_spec)
    return spec, files.run_spec


def _discard_other_runs(files: CheckpointFiles, identity: str) -> None:
    """Checkpoints of a run with other config, data or tokenizer must not be resumed: remove them."""
    marker = files.identity
    if not marker.is_file() or marker.read_text().strip() != identity:
        for folder in (files.deepspeed_dir, files.snapshots_dir):  # snapshots belong to the discarded run
            if folder.exists():
                shutil.rmtree(folder)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(identity)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(config: TrainConfig, spec_path: Path) -> list[str]:
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


def _launcher(config: TrainConfig, spec_path: Path) -> list[str]:
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


def _torchrun_placement(config: TrainConfig) -> list[str]:
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


@dataclass(frozen=True)
class Launch:
    spec: RunSpec
    spec_path: Path
    command: list[str]


def prepare_launch(lake: DataLake, shards: list[str], config: TrainConfig, conditioning: dict[str, Any]) -> Launch:
    """Everything the checkpoint asset needs to start training: the spec on disk and the command."""
    spec, spec_path = prepare_run(lake, shards, config, conditioning)
    return Launch(spec, spec_path, launch_command(config, spec_path))
