"""Shared test factories: label rows and raw shards, a small trained-ready lake, tiny Hugging Face models
built offline (no weights downloaded)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from condpt_dagster.conditioning.headers import HeaderFormat, build_header
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import BlocksSettings, CleanSettings, ConditioningSettings, TokenizerSettings
from condpt_dagster.labelers.base import LABEL_SCHEMA
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer

SPECIALS = ["<pad>", "</s>", "<unk>"]
# Test documents are a sentence or two: the Gopher rules (>= 50 words) would remove them all.
SHORT_DOCS_CLEAN = CleanSettings(gopher_quality={"enabled": False}, gopher_repetition={"enabled": False})
CONDITIONING = HeaderFormat("laion", ["rating", "topics"])
WORDS = {"sports": "team match goal player score win coach league", "politics": "senate vote law bill party election"}

# ----------------------------------------------------------------------------------------- label rows


def label_row(doc_id: str, **fields: Any) -> dict[str, Any]:
    """A complete LABEL_SCHEMA row; ``fields`` override the neutral defaults."""
    row = {
        "id": doc_id,
        "tags": [],
        "topics": [],
        "rating": "G",
        "sfw": True,
        "sentiment": "neutral",
        "format": "news",
        "language": "en",
        "synopsis": "A text.",
        "length": "short",
        "readability": 5.0,
        "scores": "{}",
        "labeler": "t",
        "labeler_version": "v",
        "error": None,
    }
    return {**row, **fields}


def write_labels(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=LABEL_SCHEMA), path)


def write_raw(path: Path, shard: str, ids: list[str], texts: list[str]) -> None:
    """A raw_documents file with the given documents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(ids)
    table = {"id": ids, "text": texts, "source": ["s"] * n, "meta": ["{}"] * n, "shard": [shard] * n}
    pq.write_table(pa.table({**table, "line": list(range(1, n + 1))}), path)


def write_clean(lake: DataLake, shard: str, ids: list[str], texts: list[str]) -> None:
    """A shard as clean_documents leaves it: raw and clean files with the documents, nothing removed."""
    from condpt_dagster.stages.clean_documents import REMOVED_SCHEMA

    write_raw(lake.raw(shard), shard, ids, texts)
    write_raw(lake.clean(shard), shard, ids, texts)
    lake.removed_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(REMOVED_SCHEMA.empty_table(), lake.removed(shard))


# ------------------------------------------------------------------------------------------ a small lake


def make_lake(root, n_docs=120, shard_names=("a", "b"), heldout_fraction=0.0, words_per_doc=40, texts=None) -> DataLake:
    """Synthetic two-topic corpus -> conditioned shards -> tokenizer -> 64-token blocks (``texts``: the
    documents' texts instead of the two 8-word topic vocabularies)."""
    lake = DataLake.at(root)
    rng = random.Random(0)
    options = ConditioningSettings(fields=("rating", "topics"), conditional_dropout=0)
    rows = []
    for i in range(n_docs):
        topic = "sports" if i % 2 else "politics"
        text = texts[i] if texts else " ".join(rng.choice(WORDS[topic].split()) for _ in range(words_per_doc)) + "."
        header = build_header(f"d{i}", {"rating": "G", "topics": [topic]}, options)
        rows.append({"id": f"d{i}", "header": header, "text": text})
    for k, name in enumerate(shard_names):
        part = rows[k :: len(shard_names)]
        lake.conditioned_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(part), lake.conditioned(name))
    build_tokenizer(((r["header"], r["text"]) for r in rows), lake.tokenizer_dir, TokenizerSettings(vocab_size=400))
    tok = ConditionTokenizer(lake.tokenizer_dir)
    blocks = BlocksSettings(block_size=64, heldout_fraction=heldout_fraction)
    for name in shard_names:
        pack_shard(lake.conditioned(name), tok, lake.blocks(name), blocks)
    return lake


# -------------------------------------------------------------------------------------- tiny HF models


def tiny_tokenizer(corpus: list[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_tiny_causal(path: Path, corpus: list[str]) -> Path:
    tokenizer = tiny_tokenizer(corpus)
    torch.manual_seed(0)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    GPTNeoXForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_tiny_seq2seq(path: Path, corpus: list[str]) -> Path:
    tokenizer = tiny_tokenizer(corpus)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_condpt_export(run_dir: Path, tokenizer_dir: Path, conditioning: dict[str, Any]) -> Path:
    """``run_dir/hf`` as the checkpoint asset exports it (model, tokenizer, generation config, condpt.json), with
    an untrained two-layer GPT-NeoX on the lake tokenizer in ``tokenizer_dir``."""
    import json
    from types import SimpleNamespace

    from condpt_dagster.core.lake import HF_SETTINGS_NAME, CheckpointFiles, TokenizerFiles
    from condpt_dagster.training.export import _save_generation_config, _save_tokenizer

    hf_dir = CheckpointFiles(run_dir).hf_dir
    hf_dir.mkdir(parents=True)
    spec = SimpleNamespace(lake=SimpleNamespace(tokenizer=TokenizerFiles(Path(tokenizer_dir))))
    tokenizer, specials = _save_tokenizer(spec, hf_dir)
    torch.manual_seed(0)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    GPTNeoXForCausalLM(config).save_pretrained(hf_dir)
    _save_generation_config(tokenizer, specials, hf_dir)  # after the model: its save writes a default one
    (hf_dir / HF_SETTINGS_NAME).write_text(json.dumps({"conditioning": conditioning, "run": run_dir.name}))
    return run_dir


def teach_causal(path: Path, prompt: str, answer: str, steps: int = 120) -> None:
    """Overfit a saved tiny causal model so that it answers ``prompt`` with ``answer``."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tokenizer(prompt + answer + tokenizer.eos_token, return_tensors="pt")["input_ids"]
    n_prompt = len(tokenizer(prompt)["input_ids"])
    labels = ids.clone()
    labels[:, :n_prompt] = -100
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    model.save_pretrained(path)


def run_processes(spec_path) -> list[psutil.Process]:
    """Live processes of a training run: the guard, the launcher and every rank name its spec on the command line."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if str(spec_path) in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def monitor_rows(run_dir: Path, series: str) -> list[dict[str, float]]:
    """One training curve as DeepSpeed's CSV monitor wrote it, launch by launch in the order they started
    (checkpoints/<run>/monitor/from_step<N>/)."""
    import csv

    launches = sorted((run_dir / "monitor").glob("from_step*"), key=lambda p: int(p.name.removeprefix("from_step")))
    rows = []
    for folder in launches:
        with open(folder / f"Train_Steps_{series}.csv", newline="") as handle:
            rows += [{"step": int(row["step"]), series: float(row[series])} for row in csv.DictReader(handle)]
    return rows


def trained_topic_lake(root: Path) -> tuple[DataLake, dict[str, Any]]:
    """A small lake (shards a, b) with a held-out split, topic labels (sports / politics by id) and the
    checkpoint ``ev`` trained on it for 30 steps; returns the lake and the resources that trained it."""
    import dagster as dg

    from condpt_dagster.assets.checkpoint import build_checkpoint
    from condpt_dagster.assets.partitions import shards
    from condpt_dagster.core.settings import TrainingSettings
    from condpt_dagster.resources import DataLakeResource, LabelerResource, SubprocessTrainingRunner

    lake = make_lake(root)
    tok = ConditionTokenizer(lake.tokenizer_dir)
    for name in ("a", "b"):  # re-pack with a held-out split, and write matching label rows
        pack_shard(lake.conditioned(name), tok, lake.blocks(name), BlocksSettings(block_size=64, heldout_fraction=0.25))
        ids = pq.read_table(lake.conditioned(name)).column("id").to_pylist()
        topics = ["sports" if int(doc_id[1:]) % 2 else "politics" for doc_id in ids]
        rows = [
            label_row(doc_id, tags=[topic], topics=[topic], synopsis=f"A text about {topic}.")
            for doc_id, topic in zip(ids, topics, strict=True)
        ]
        write_labels(lake.labels(name), rows)
    config = TrainingSettings(
        run="ev",
        max_steps=30,
        checkpoint_every=30,
        log_every=10,
        micro_batch_size=4,
        learning_rate=3e-3,
        warmup_steps=3,
    )
    resources = {
        "lake": DataLakeResource(root=str(lake.root)),
        "training_runner": SubprocessTrainingRunner(),
        "labeler": LabelerResource(),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["a", "b"])
        # Two 8-word topic vocabularies: every document is a near-duplicate of the others by construction.
        asset = build_checkpoint(config, CONDITIONING, CleanSettings(check_decontamination=False))
        assert dg.materialize([asset], instance=instance, resources=resources).success
    return lake, resources
