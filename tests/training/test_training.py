"""Training: config checks, loss details, the checkpoint asset (2 ranks over gloo, through Pipes),
crash and resume, the Hugging Face export and label-steered generation."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import torch
from click.testing import CliRunner
from factories import CONDITIONING, make_lake, monitor_rows, run_processes
from transformers import AutoModelForCausalLM

from condpt_dagster.assets.checkpoint import build_checkpoint
from condpt_dagster.assets.partitions import shards
from condpt_dagster.cli import main as cli
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.io import _UMASK
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings, SettingsError, TrainingSettings
from condpt_dagster.resources import DataLakeResource, SubprocessTrainingRunner
from condpt_dagster.stages.checkpoint import prepare_run
from condpt_dagster.training.generate import ConditionalGenerator
from condpt_dagster.training.launch import launch_command
from condpt_dagster.training.train import drop_headers, masked_loss


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    return make_lake(tmp_path_factory.mktemp("train") / "data")


def test_invalid_config_values_are_reported_together(tmp_path):
    with pytest.raises(SettingsError) as err:
        TrainingSettings(preset="7b", zero_stage=5, micro_batch_size=0, max_steps=10, max_tokens=100)
    message = str(err.value)
    for part in ("preset", "zero_stage", "micro_batch_size", "exactly one budget"):
        assert part in message
    with pytest.raises(SettingsError, match="not a Hugging Face model folder"):
        TrainingSettings(base_model=str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="lora = true needs base_model"):
        TrainingSettings(lora=True)
    with pytest.raises(SettingsError, match="unknown setting"):
        TrainingSettings.model_validate({"learning_rat": 0.1})


def test_inputs_are_checked_before_launch(tmp_path, small_lake):
    empty = DataLake.at(tmp_path / "empty")
    with pytest.raises(SettingsError, match=r"no tokenizer\.json"):
        prepare_run(empty, ["a"], TrainingSettings(), CONDITIONING)
    (empty.tokenizer_dir).mkdir(parents=True)
    (empty.tokenizer_dir / "tokenizer.json").write_text((small_lake.tokenizer_dir / "tokenizer.json").read_text())
    with pytest.raises(SettingsError, match="no token blocks"):
        prepare_run(empty, ["a"], TrainingSettings(), CONDITIONING)
    other = make_lake(tmp_path / "other", n_docs=30, shard_names=("a",))
    meta_path = other.blocks("a").meta
    meta = json.loads(meta_path.read_text())
    meta["tokenizer_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SettingsError, match="made with another tokenizer"):
        prepare_run(other, ["a"], TrainingSettings(), CONDITIONING)


def test_masked_loss_ignores_masked_positions_and_headers_can_be_dropped():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, 7)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    full = masked_loss(logits, ids, torch.ones(1, 5, dtype=torch.bool))
    half = masked_loss(logits, ids, torch.tensor([[True, False, False, True, True]]))
    manual = torch.nn.functional.cross_entropy(logits[0, 2:4], ids[0, 3:5])
    assert torch.isclose(half, manual) and not torch.isclose(full, half)
    out_ids, out_mask = drop_headers(ids, torch.tensor([[False, False, True, True, False]]), pad_id=0)
    assert out_ids.tolist() == [[3, 4, 0, 0, 0]] and out_mask.tolist() == [[True, True, False, False, False]]


def test_checkpoint_asset_two_ranks_through_pipes(small_lake):
    config = TrainingSettings(
        run="t2",
        max_steps=12,
        checkpoint_every=6,
        log_every=4,
        micro_batch_size=2,
        nproc_per_node=2,
        learning_rate=3e-3,
        warmup_steps=2,
    )
    asset = build_checkpoint(config, CONDITIONING, CleanSettings())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={
                "lake": DataLakeResource(root=str(small_lake.root)),
                "training_runner": SubprocessTrainingRunner(),
            },
        )
        assert result.success
        meta = result.asset_materializations_for_node("checkpoint")[0].metadata
    assert meta["world_size"].value == 2 and meta["steps"].value == 12
    replicas = meta["replica_weights"].value  # both ranks' weights digests, gathered and equal
    assert replicas["checked"] and replicas["ranks"] == 2
    assert meta["final_loss"].value < 6.0  # log(400) = 6.0: it learned something
    assert meta["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    out = small_lake.checkpoints_dir / "t2"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["partition_data_versions"]) == {"a", "b"}
    assert manifest["tokenizer_sha256"] == ConditionTokenizer(small_lake.tokenizer_dir).sha256
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    curve = monitor_rows(out, "loss")  # the curve users open elsewhere: DeepSpeed's monitor, rank 0 only
    assert [row["step"] for row in curve] == list(range(1, 13)) and curve[-1]["loss"] == manifest["final_loss"]

    model = AutoModelForCausalLM.from_pretrained(out / "hf")
    assert model.config.model_type == "gpt_neox"
    weights_mode = stat.S_IMODE((out / "hf" / "model.safetensors").stat().st_mode)
    assert weights_mode == 0o666 & ~_UMASK  # shareable as the umask allows, not safetensors' 0600
    generator = ConditionalGenerator(out)
    controls = set(generator.tokenizer.special_ids) - {generator.tokenizer.eos_id}
    new_ids = generator.generate({"rating": "G", "topics": ["sports"]}, "team", max_new_tokens=40)
    assert not controls & set(new_ids)  # control tokens are never generated
    result = CliRunner().invoke(
        cli,
        ["generate", "--checkpoint", str(out), "--rating", "G", "--topics", "sports", "--max-new-tokens", "10", "team"],
    )
    assert result.exit_code == 0 and "--- sample 1" in result.output, result.output
    by_name = ["generate", "--checkpoint", "t2", "--data", str(small_lake.root), "--max-new-tokens", "5", "team"]
    result = CliRunner().invoke(cli, by_name)  # the run's name, as `condpt audit lineage --checkpoint` takes it
    assert result.exit_code == 0 and "--- sample 1" in result.output, result.output
    unknown = CliRunner().invoke(cli, [*by_name[:2], "../t2", *by_name[3:]])
    assert unknown.exit_code == 1 and "runs: t2" in unknown.output, unknown.output


def test_killed_run_resumes_to_the_planned_step_count(small_lake):
    config = TrainingSettings(run="crash", max_steps=80, checkpoint_every=5, log_every=5, micro_batch_size=2)
    _spec, spec_path = prepare_run(small_lake, ["a", "b"], config, CONDITIONING)
    command = launch_command(config, spec_path)
    ckpt = small_lake.checkpoints_dir / "crash" / "deepspeed"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def latest_step() -> int:  # DeepSpeed writes `latest` once a checkpoint is complete
        latest = ckpt / "latest"
        return int(latest.read_text().strip().removeprefix("step") or 0) if latest.is_file() else 0

    deadline = time.monotonic() + 240
    while latest_step() < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "training ended before it could be killed"
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)  # same run, still live
    assert second.returncode != 0 and "another launcher" in second.stderr
    with pytest.raises(SettingsError, match="another launcher"):
        prepare_run(small_lake, ["a", "b"], config, CONDITIONING)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher's group; ranks run in sessions of their own
    proc.wait()
    wait_until_gone = time.monotonic() + 60
    while run_processes(spec_path) and time.monotonic() < wait_until_gone:
        time.sleep(0.2)
    assert not run_processes(spec_path), "a rank outlived its launcher"
    assert not (small_lake.checkpoints_dir / "crash" / "manifest.json").exists()
    _, spec_path = prepare_run(small_lake, ["a", "b"], config, CONDITIONING)  # same run: kept
    done = subprocess.run(launch_command(config, spec_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from checkpoint at step" in done.stdout
    manifest = json.loads((small_lake.checkpoints_dir / "crash" / "manifest.json").read_text())
    assert manifest["steps"] == 80 and manifest["resumed_from"] >= 10
    assert manifest["steps_this_launch"] == 80 - manifest["resumed_from"] and manifest["tokens_per_second"] > 0
    rows = monitor_rows(small_lake.checkpoints_dir / "crash", "loss")
    assert sorted({row["step"] for row in rows}) == list(range(1, 81))  # steps after the last checkpoint: twice
    _, spec_path = prepare_run(small_lake, ["a", "b"], config, CONDITIONING)  # a finished run launched again
    again = subprocess.run(launch_command(config, spec_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    manifest = json.loads((small_lake.checkpoints_dir / "crash" / "manifest.json").read_text())
    assert manifest["steps"] == 80 and manifest["steps_this_launch"] == 0
    assert manifest["tokens_per_second"] is None and manifest["mfu"] is None  # no throughput measured, not 0

    changed = TrainingSettings(run="crash", max_steps=81, checkpoint_every=5, micro_batch_size=2)
    prepare_run(small_lake, ["a", "b"], changed, CONDITIONING)  # another run: old checkpoints go
    assert not (ckpt / "latest").exists()


def test_deepspeed_start_up_notices_stay_out_of_quiet_output():
    """Issue 32, point 7: `condpt` (CONDPT_QUIET=1) hides DeepSpeed's accelerator and op-build notices, which
    every `make demo` printed; without it (`condpt --verbose`, the UI) they are shown as before."""
    import socket
    import subprocess
    import sys

    script = (
        "from condpt_dagster.training.engine import deepspeed_notices_hidden\n"
        "with deepspeed_notices_hidden():\n"
        "    import deepspeed\n"
        "    deepspeed.init_distributed(dist_backend='gloo')\n"
        "print('our own line')\n"
    )

    def run(quiet: bool) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("CONDPT_QUIET", "DS_ACCELERATOR")}
        env |= {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        env |= {"CONDPT_QUIET": "1"} if quiet else {}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    quiet = run(True)
    assert "our own line" in quiet and "Setting accelerator" not in quiet and "built successfully" not in quiet
    if not torch.cuda.is_available():  # the accelerator notice is the CPU fallback's
        assert "Setting accelerator to CPU" in run(False)


def test_each_launch_gets_its_own_monitor_folder_named_after_its_resume_step(tmp_path):
    from condpt_dagster.training.engine import monitor_job

    latest = tmp_path / "latest"
    assert monitor_job(latest) == "from_step0"  # a fresh run
    latest.write_text("step40")
    assert monitor_job(latest) == "from_step40"  # resumes the checkpoint DeepSpeed's `latest` names


def test_tensorboard_curves_without_the_package_stop_with_the_install_line(monkeypatch):
    import sys

    from condpt_dagster.training.engine import deepspeed_config, require_tensorboard

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # an import of it now fails, installed or not
    with pytest.raises(SystemExit, match="pip install tensorboard"):
        require_tensorboard()
    config = deepspeed_config(TrainingSettings(tensorboard=True), Path("/runs/x/monitor"), "from_step0")
    assert config["tensorboard"] == {"enabled": True, "output_path": "/runs/x/monitor", "job_name": "from_step0"}
    assert config["csv_monitor"]["enabled"] and "csv_monitor" not in deepspeed_config(TrainingSettings())
