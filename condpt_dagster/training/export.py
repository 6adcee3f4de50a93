"""What a finished training run leaves behind: the Hugging Face export, manifest, metrics and loss plot."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.io import atomic_dir, atomic_output
from condpt_dagster.core.lake import CheckpointFiles
from condpt_dagster.core.settings import TrainingSettings
from condpt_dagster.training.run_spec import RunSpec


def loss_png(history: list[dict[str, float]]) -> bytes:
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


def _save_tokenizer(spec: RunSpec, folder: Path):
    """The run's tokenizer as a transformers fast tokenizer, plus condpt's special_tokens.json."""
    from transformers import PreTrainedTokenizerFast

    files = spec.lake.tokenizer
    specials = json.loads(files.special_tokens.read_text(encoding="utf-8"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(files.tokenizer_json),
        eos_token=specials["eos"],
        pad_token=specials["pad"],
        bos_token=specials["eos"],
    )
    tokenizer.save_pretrained(folder)
    shutil.copy(files.special_tokens, folder / files.special_tokens.name)
    return tokenizer, specials


def _save_generation_config(tokenizer, specials: dict[str, Any], folder: Path) -> None:
    from transformers import GenerationConfig

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
    ).save_pretrained(folder)


def export_hf(engine, config: TrainingSettings, spec: RunSpec, rank: int, folder: Path | None = None) -> Path:
    """Save a Hugging Face folder (safetensors, tokenizer, generation config) that from_pretrained loads:
    the run's ``hf/`` or ``folder`` (a snapshot)."""
    import deepspeed

    module = engine.module
    files = spec.files
    target = folder or files.hf_dir
    gather = (
        deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
        if config.zero_stage == 3
        else contextlib.nullcontext()
    )
    with gather:
        if rank != 0:
            return target
        with atomic_dir(target) as tmp:
            model = module
            if config.lora:
                model.save_pretrained(tmp / "adapter")
                model = model.merge_and_unload()
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer, specials = _save_tokenizer(spec, tmp)
            _save_generation_config(tokenizer, specials, tmp)
            settings = {"conditioning": spec.conditioning, "run": config.run}
            (tmp / files.hf_settings.name).write_text(json.dumps(settings, indent=1), encoding="utf-8")
    return target


def write_outputs(spec: RunSpec, history: list[dict[str, float]], summary: dict[str, Any]) -> None:
    """manifest.json (what was trained on, how it went) and loss.png; rank 0 only. The curves themselves are
    DeepSpeed's monitor files in ``monitor/``, written while training."""
    config, files = spec.train_config, spec.files
    manifest = CheckpointManifest(
        run=config.run,
        config=spec.config,
        config_version=spec.code_version,
        code_version=spec.code_version,
        tokenizer_sha256=spec.tokenizer_sha256,
        shards=spec.shards,
        partition_data_versions=spec.partition_data_versions,
        lineage=spec.lineage,
        hf_dir=str(files.hf_dir),
        **summary,
    )
    with atomic_output(files.loss_plot) as tmp:
        tmp.write_bytes(loss_png(history))
    manifest.save(files.manifest)  # last: marks the run complete


def pipes_metadata(files: CheckpointFiles, summary: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint asset's materialization metadata, in Dagster Pipes' raw form."""
    png = base64.b64encode(files.loss_plot.read_bytes()).decode()
    return {
        **{
            k: {"raw_value": v, "type": "json"} if isinstance(v, dict) else v
            for k, v in summary.items()
            if v is not None
        },
        "hf_model": {"raw_value": str(files.hf_dir), "type": "path"},
        "manifest": {"raw_value": str(files.manifest), "type": "path"},
        "loss_curve": {"raw_value": f"![loss curve](data:image/png;base64,{png})", "type": "md"},
    }
