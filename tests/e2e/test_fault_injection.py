"""SIGKILL at chosen instants of every writer (core/faults.py failpoints), through the real CLI: after each
kill the visible lake holds only complete files, a rerun completes, and the result equals a clean run's.

Marked ``faults`` (a few minutes): `make test-faults`, and CI runs it after the default suite.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from factories import run_processes

from condpt_dagster.core.lake import DataLake
from harness.e2e_util import SHORT_DOCS_TOML

pytestmark = pytest.mark.faults

BIN = Path(sys.executable).parent
TOPICS = {"sea": "ship sail harbor wave captain storm deck", "farm": "field harvest cattle barn tractor seed"}
CONFIG = (
    """
[blocks]
block_size = 32
heldout_fraction = 0.1
[tokenizer]
vocab_size = 400
[labeler]
batch_docs = 16
[training]
run = "faults"
preset = "tiny"
max_steps = 12
checkpoint_every = 4
micro_batch_size = 2
"""
    + SHORT_DOCS_TOML
)
PER_SHARD = ("raw_documents,clean_documents,document_labels,conditioned_examples", "token_blocks", "label_audit")


def write_inbox(root: Path) -> list[Path]:
    paths = []
    for shard in ("s1", "s2"):
        path = root / f"{shard}.jsonl.gz"
        words = list(TOPICS.values())
        docs = [
            {"id": f"{shard}-{i}", "text": f"The {words[i % 2].split()[i % 6]} story {shard}-{i}. " + words[i % 2] * 3}
            for i in range(40)
        ]
        path.write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode()))
        paths.append(path)
    return paths


def cli_env(root: Path) -> dict[str, str]:
    env = {**os.environ, "CONDPT_CONFIG": str(root / "condpt.toml"), "DAGSTER_HOME": str(root / "dagster_home")}
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("CONDPT_FAILPOINT", None)
    return env


def condpt(root: Path, *args: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = cli_env(root)
    if failpoint:
        env["CONDPT_FAILPOINT"] = failpoint
    return subprocess.run(
        [str(BIN / "condpt"), *args, "--data", str(root / "data")], env=env, capture_output=True, text=True
    )


def new_lake(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "dagster_home").mkdir()
    (root / "condpt.toml").write_text(CONFIG)
    registered = condpt(root, "add-shards", *map(str, write_inbox(root)))
    assert registered.returncode == 0, registered.stderr[-2000:]
    return root


def materialize(root: Path, select: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
    return condpt(root, "materialize", "--select", select, failpoint=failpoint)


def run_pipeline(root: Path, until: str | None = None) -> None:
    """Every stage up to (not including) ``until``."""
    for select in (PER_SHARD[0], "tokenizer", *PER_SHARD[1:], "checkpoint"):
        if select == until:
            return
        done = materialize(root, select)
        assert done.returncode == 0, f"{select}: {done.stderr[-3000:]}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "(absent)"


def lake_state(root: Path) -> dict[str, object]:
    """What a clean run and a recovered run must agree on: rows, ids, token bytes, audit counts."""
    lake = DataLake.at(root / "data")
    state: dict[str, object] = {}
    for shard in ("s1", "s2"):
        for name, path in (("raw", lake.raw(shard)), ("labels", lake.labels(shard)), ("cond", lake.conditioned(shard))):
            state[f"{name}/{shard}"] = sorted(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        blocks = lake.blocks(shard)
        state[f"blocks/{shard}"] = (digest(blocks.tokens), digest(blocks.mask), pq.read_table(blocks.spans).num_rows)
    with duckdb.connect(str(lake.audit_db), read_only=True) as con:
        for table in ("documents", "labels", "tags", "tag_pairs", "block_spans", "label_history"):
            state[f"audit/{table}"] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return state


def visible_files_are_complete(root: Path) -> None:
    """Every non-temporary file a reader can see opens and is whole."""
    lake = DataLake.at(root / "data")
    for folder in (lake.raw_dir, lake.labels_dir, lake.conditioned_dir):
        for path in folder.rglob("*.parquet"):
            if not path.name.startswith("."):
                assert pq.read_metadata(path).num_rows >= 0, path  # raises on a truncated file
    for meta in lake.blocks_dir.glob("*.meta.json"):
        info = json.loads(meta.read_text())
        tokens = lake.blocks(info["shard"]).tokens
        assert tokens.stat().st_size == info["n_blocks"] * info["block_size"] * (2 if info["dtype"] == "uint16" else 4)
    if lake.audit_db.exists():
        with duckdb.connect(str(lake.audit_db), read_only=True) as con:
            con.execute("SELECT count(*) FROM labels").fetchone()


def no_temporaries(root: Path) -> list[Path]:
    data = root / "data"
    return [p for p in data.rglob(".*.tmp") if "dagster_home" not in p.parts]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, object]:
    root = new_lake(tmp_path_factory.mktemp("clean") / "lake")
    run_pipeline(root, until="checkpoint")
    return lake_state(root)


@pytest.mark.parametrize(
    ("failpoint", "stage"),
    [
        ("raw_documents:batch", PER_SHARD[0]),
        ("document_labels:batch", PER_SHARD[0]),
        ("token_blocks:before_meta", "token_blocks"),
        ("label_audit:upsert", "label_audit"),
    ],
)
def test_killed_writer_leaves_complete_files_and_a_rerun_matches_a_clean_run(tmp_path, clean, failpoint, stage):
    root = new_lake(tmp_path / "lake")
    run_pipeline(root, until=stage)
    killed = materialize(root, stage, failpoint=failpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    visible_files_are_complete(root)
    run_pipeline(root, until="checkpoint")  # the rerun: every stage again, the killed one included
    assert lake_state(root) == clean
    assert not no_temporaries(root)


def test_kill_during_checkpoint_save_resumes_from_the_last_complete_one(tmp_path):
    root = new_lake(tmp_path / "lake")
    run_pipeline(root, until="checkpoint")
    failed = materialize(root, "checkpoint", failpoint="checkpoint:before_latest@2")  # while saving step 8
    assert failed.returncode != 0
    files = DataLake.at(root / "data").checkpoint("faults")
    assert files.latest.read_text() == "step4" and not files.manifest.exists()
    done = materialize(root, "checkpoint")
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads(files.manifest.read_text())
    assert manifest["steps"] == 12 and manifest["resumed_from"] == 4
    assert set(manifest["lineage"]) == {"s1", "s2"} and all(v["labels_version"] for v in manifest["lineage"].values())


def test_killing_the_run_worker_leaves_no_rank(tmp_path):
    root = new_lake(tmp_path / "lake")
    run_pipeline(root, until="checkpoint")
    (root / "condpt.toml").write_text(
        CONFIG.replace("max_steps = 12", "max_steps = 5000")
    )  # still training when killed
    worker = subprocess.Popen(
        [str(BIN / "condpt"), "materialize", "--select", "checkpoint", "--data", str(root / "data")],
        env=cli_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    files = DataLake.at(root / "data").checkpoint("faults")
    deadline = time.monotonic() + 300
    while not files.latest.is_file() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert worker.poll() is None and run_processes(files.run_spec), "training was not running"
    worker.send_signal(signal.SIGKILL)  # the run worker alone: the launcher and ranks must follow it
    worker.wait()
    gone = time.monotonic() + 60
    while run_processes(files.run_spec) and time.monotonic() < gone:
        time.sleep(0.2)
    assert not run_processes(files.run_spec), "a launcher or rank outlived the run worker"
    assert not files.manifest.exists()
