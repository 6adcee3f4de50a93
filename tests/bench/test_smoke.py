"""Every benchmark runs at a smoke size, so none can rot unnoticed (``make test-bench``, run by CI).

Each runs as users run it (``python -m bench.<name>`` from the repository root) on tiny inputs: the point is
that it still imports, builds its inputs and prints its comparison, not its figures. The four that start the
production deployment (PostgreSQL, code server, webserver, daemon) run too; ``eval_report`` runs on a checkpoint
trained here for 30 steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import trained_topic_lake

from harness.services import postgres_binaries

REPO = Path(__file__).resolve().parents[2]
WHEELS = "{wheels}"
WORK = "{work}"

# name: arguments at smoke size ({work}: a fresh folder; {wheels}: the sample wheels)
LOCAL = {
    "audit": ["--rows", "2000", "--shard-docs", "1000"],
    "audit_upsert": ["--shards", "2", "--shard-docs", "200"],
    "batch_rules": ["--docs", "40", "--batch", "16", "--wheels", WHEELS],
    "clean": ["--docs", "40"],
    "dedup": ["--docs", "400", "--shards", "2", "--skip-datatrove", "--work", WORK],
    "export": ["--tokens", "20000", "--block-size", "128", "--work", WORK],
    "finetune": ["--docs", "24", "--max-tokens", "32"],
    "gpu_prepare": ["--wheels", WHEELS, "--data", WORK, "--docs", "60", "--block-size", "128"],
    "ingest": ["--mb", "0.2", "--rss-gb", "0", "--repeat", "1", "--work", WORK],
    "label": ["--docs", "8", "--rule-docs", "16"],
    "label_host": ["--docs", "40", "--batch", "10", "--workers", "2", "--wheels", WHEELS],
    "load_definitions": ["--reps", "1"],
    "tokenize_blocks": ["--docs", "200", "--block-size", "128"],
    "train": ["--steps", "2", "--block-size", "32", "--micro-batch", "2"],
    "student": ["--docs", "240", "--sample", "160", "--speed-docs", "16", "--warm-docs", "16", "--work", WORK],
    "student_batch": ["--work", WORK, "--build-docs", "200", "--sample", "120", "--docs", "64", "--sizes", "16", "64"],
    "scale": ["--sizes", "200", "--docs-per-shard", "100", "--sample", "60", "--agreement", "0", "0", "--work", WORK],
}
DEPLOYMENT = {
    "backfill": ["--shards", "2", "--docs-per-shard", "12", "--concurrency", "1", "--work", WORK],
    "lake": ["--shards", "1", "--docs-per-shard", "12", "--repeats", "1", "--work", WORK],
    "run_overhead": ["--docs", "6", "--reps", "1", "--work", WORK],
    "partitions": ["--shards", "4", "--docs", "2", "--timeout", "600", "--work", WORK],
}
NEEDS_POSTGRES = {"backfill", "run_overhead"}
# downloads ~100 MB of wheels from PyPI: its parts are tested in test_gpu_bundle.py, the scripts' CPU path below
NOT_SMOKED = {"gpu_bundle"}
# smoke size of the eval report: every part runs (losses, generations, attribution, synopses, bootstrap)
SMOKE_EVAL = """[eval]
max_docs = 10
samples_per_value = 1
max_new_tokens = 8
attribution_docs = 4
synopses = 1
bootstrap_reps = 50
"""


def run(name: str, args: list[str], tmp_path: Path, wheels: Path | None = None) -> str:
    argv = [a.format(work=tmp_path / "work", wheels=wheels) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *argv], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"bench.{name} {' '.join(argv)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"bench.{name} printed nothing"
    return done.stdout


def test_every_benchmark_has_a_smoke_size():
    modules = {p.stem for p in (REPO / "bench").glob("*.py")} - {"__init__"}
    smoked = set(LOCAL) | set(DEPLOYMENT) | {"eval_report"}
    assert modules == smoked | NOT_SMOKED, "a new benchmark needs its smoke size here"


@pytest.mark.bench
@pytest.mark.parametrize("name", sorted(LOCAL))
def test_benchmark_runs_at_smoke_size(name, tmp_path, sample_wheels):
    run(name, LOCAL[name], tmp_path, sample_wheels)


@pytest.mark.bench
def test_gpu_scripts_run_their_cpu_path(tmp_path, sample_wheels):
    """The GPU benchmarks' shell scripts, on CPU at smoke size: blocks prepared elsewhere (PREPARED), then
    trained through the checkpoint stage's launcher; the labeler on an encoder folder given by MODEL_DIR."""
    run("gpu_prepare", LOCAL["gpu_prepare"], tmp_path, sample_wheels)
    from condpt_dagster.core.hashing import cached_sha256
    from condpt_dagster.labelers.encoder import default_model_dir

    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PREPARED": str(tmp_path / "work"),
        "STEPS": "2",
        "PRESET": "tiny",
        "PRECISION": "fp32",
        "BLOCK_SIZE": "128",
        "MICRO_BATCH": "1",
        "WORK": str(tmp_path / "train"),
    }
    train = subprocess.run(["bench/gpu_train.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "device: cpu  preset: tiny" in train.stdout and "tokens/s:" in train.stdout
    model = default_model_dir()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "DEVICE": "cpu",
        "PRECISION": "fp32",
        "DOCS": "8",
        "WORDS": "60",
        "RULE_WORKERS": "0",
        "SAMPLE_WHEELS": str(sample_wheels),
        "MODEL_DIR": str(model),
        "MODEL_SHA256": cached_sha256(model / "model.safetensors"),
        "WORK": str(tmp_path / "label"),
    }
    label = subprocess.run(["bench/gpu_label.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert label.returncode == 0, label.stderr[-3000:]
    assert "full labeler" in label.stdout and "raw encoder" in label.stdout


@pytest.mark.bench
def test_eval_report_benchmark_runs_at_smoke_size(tmp_path):
    lake, _ = trained_topic_lake(tmp_path / "data")
    config = tmp_path / "eval.toml"
    config.write_text(SMOKE_EVAL)
    args = ["--data", str(lake.root), "--run", "ev", "--config", str(config), "--samples", "2"]
    out = run("eval_report", args, tmp_path)
    assert "report wall time" in out and "generation: " in out
    assert lake.evaluation("ev-bench").html.is_file()


@pytest.mark.bench  # each starts the production deployment: about six minutes for the four
@pytest.mark.parametrize("name", sorted(DEPLOYMENT))
def test_deployment_benchmark_runs_at_smoke_size(name, tmp_path):
    if name in NEEDS_POSTGRES and postgres_binaries() is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    run(name, DEPLOYMENT[name], tmp_path)
