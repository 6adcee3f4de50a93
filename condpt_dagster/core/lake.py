"""The data lake: one root folder whose layout is the contract between pipeline stages.

Every path of the lake is built here and nowhere else: :class:`DataLake` names the per-shard files and the
folders, and small layout classes name the files inside a folder (a shard's blocks, a tokenizer, a
checkpoint, a labeler adapter, an evaluation). The same layout classes read folders outside the lake that
have the same shape (an exported model, a copied checkpoint). Schemas: docs/design.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_EXTENSIONS = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
HF_SETTINGS_NAME = "condpt.json"  # beside an exported model's config.json: how to build its headers
_SHARD_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_SHARD_KEY = 128  # file names derived from a key (temporaries, label history) stay under 255 bytes


class ShardNameError(ValueError):
    """A file name that cannot become a shard partition key."""


def shard_extension(path: str | os.PathLike[str]) -> str | None:
    """The supported extension a file name ends with (longest match), or None."""
    name = Path(path).name
    return next((ext for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True) if name.endswith(ext)), None)


def split_shard_name(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(shard_key, extension)`` for an inbox file, e.g. ``news-0.jsonl.gz`` -> ``("news-0", ".jsonl.gz")``."""
    ext = shard_extension(path)
    if ext is None:
        raise ShardNameError(
            f"{path}: unsupported file type; supported extensions are {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    key = Path(path).name[: -len(ext)]
    if len(key) > MAX_SHARD_KEY:
        raise ShardNameError(f"{str(path)[:80]}...: shard name is {len(key)} characters long; at most {MAX_SHARD_KEY}")
    if not _SHARD_KEY.fullmatch(key):
        raise ShardNameError(
            f"{path}: shard name {key!r} must start with a letter or digit and contain only "
            "letters, digits, '.', '_' and '-'"
        )
    return key, ext


@dataclass(frozen=True)
class ExportFiles:
    """``exports/``: the token blocks in the formats other training engines read (``block_exports``)."""

    folder: Path

    hf_dir = property(lambda self: self.folder / "hf")
    hf_card = property(lambda self: self.hf_dir / "README.md")
    hf_lineage_dir = property(lambda self: self.hf_dir / "lineage")

    def megatron(self, shard: str) -> Path:
        """The shard's folder: ``text_document.bin`` / ``.idx`` (Megatron's path prefix) and ``export.json``."""
        return self.folder / "megatron" / shard

    def hf_data(self, shard: str) -> Path:
        return self.hf_dir / "data" / f"{shard}.arrow"

    def hf_lineage(self, shard: str) -> Path:
        return self.hf_lineage_dir / f"{shard}.json"


@dataclass(frozen=True)
class BlockFiles:
    """A shard's packed blocks in ``blocks/``; ``meta`` is written last and marks the set complete."""

    folder: Path
    shard: str

    def _file(self, kind: str, ext: str) -> Path:
        return self.folder / f"{self.shard}.{kind}.{ext}"

    tokens = property(lambda self: self._file("tokens", "bin"))
    mask = property(lambda self: self._file("mask", "bin"))
    spans = property(lambda self: self._file("spans", "parquet"))
    heldout = property(lambda self: self._file("heldout", "parquet"))
    meta = property(lambda self: self._file("meta", "json"))


@dataclass(frozen=True)
class TokenizerFiles:
    """``tokenizer.json`` (its sha256 identifies the tokenizer) and ``special_tokens.json``."""

    folder: Path

    tokenizer_json = property(lambda self: self.folder / "tokenizer.json")
    special_tokens = property(lambda self: self.folder / "special_tokens.json")


@dataclass(frozen=True)
class CheckpointFiles:
    """One training run's folder: launch spec, DeepSpeed checkpoints, HF export, manifest, metrics."""

    folder: Path

    run_spec = property(lambda self: self.folder / "run.json")
    lock = property(lambda self: self.folder / ".lock")  # held by the launcher of a live training run
    deepspeed_dir = property(lambda self: self.folder / "deepspeed")
    identity = property(lambda self: self.folder / "deepspeed" / "identity")
    latest = property(lambda self: self.folder / "deepspeed" / "latest")
    hf_dir = property(lambda self: self.folder / "hf")
    weights = property(lambda self: self.folder / "hf" / "model.safetensors")
    hf_settings = property(lambda self: self.folder / "hf" / HF_SETTINGS_NAME)
    manifest = property(lambda self: self.folder / "manifest.json")
    monitor_dir = property(lambda self: self.folder / "monitor")  # DeepSpeed's monitor: CSV (+ TensorBoard)
    loss_plot = property(lambda self: self.folder / "loss.png")
    snapshots_dir = property(lambda self: self.folder / "snapshots")

    def snapshot(self, step: int) -> Path:
        """A loadable export of the model at ``step`` (training with snapshot_every)."""
        return self.snapshots_dir / f"step{step}"

    def snapshots(self) -> list[tuple[int, Path]]:
        """(step, folder) of every complete snapshot, by step."""
        found = [(int(p.name[4:]), p) for p in self.snapshots_dir.glob("step*") if (p / HF_SETTINGS_NAME).is_file()]
        return sorted(found)


@dataclass(frozen=True)
class ExperimentFiles:
    """``experiments/<name>/``: summary.json, report.md/.html, heatmaps and the lift-vs-tokens curve."""

    folder: Path

    summary = property(lambda self: self.folder / "summary.json")
    markdown = property(lambda self: self.folder / "report.md")
    html = property(lambda self: self.folder / "report.html")
    curve_plot = property(lambda self: self.folder / "lift_vs_tokens.png")
    lift_plot = property(lambda self: self.folder / "lifts.png")  # every field's lift and interval, at the top
    samples = property(lambda self: self.folder / "samples.json")  # the first 8 texts per condition, to read
    generations = property(lambda self: self.folder / "generations.parquet")  # every generation, judged

    def heatmap(self, field_name: str) -> Path:
        return self.folder / f"adherence_{field_name}.png"


@dataclass(frozen=True)
class AdapterFiles:
    """A labeler adapter: peft ``adapter/``, the multi-label head, its tags and thresholds, validation set."""

    folder: Path

    adapter_dir = property(lambda self: self.folder / "adapter")
    head = property(lambda self: self.folder / "head.safetensors")
    info = property(lambda self: self.folder / "labeler.json")
    validation = property(lambda self: self.folder / "validation.parquet")


@dataclass(frozen=True)
class EvalFiles:
    """An evaluation report folder."""

    folder: Path

    metrics = property(lambda self: self.folder / "metrics.json")
    markdown = property(lambda self: self.folder / "report.md")
    html = property(lambda self: self.folder / "report.html")
    loss_plot = property(lambda self: self.folder / "loss_by_condition.png")
    adherence_plot = property(lambda self: self.folder / "adherence.png")
    topic_confusion_plot = property(lambda self: self.folder / "confusion_topics.png")
    lift_plot = property(lambda self: self.folder / "lifts.png")  # the report's lead, every field's lift

    @property
    def plots(self) -> list[Path]:
        return [self.loss_plot, self.adherence_plot, self.topic_confusion_plot]

    @property
    def all_files(self) -> list[Path]:
        return [self.metrics, self.markdown, self.html, self.lift_plot, *self.plots]


@dataclass(frozen=True)
class DataLake:
    """Paths of the data lake rooted at ``root``."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> DataLake:
        return cls(Path(root).expanduser().resolve())

    inbox = property(lambda self: self.root / "inbox")
    replaced_dir = property(lambda self: self.root / "inbox" / ".replaced")  # shard files replaced by newer ones
    inbox_lock = property(lambda self: self.root / ".locks" / "_inbox.lock")  # held while shards are registered
    raw_dir = property(lambda self: self.root / "raw")
    quarantine_dir = property(lambda self: self.root / "quarantine")
    clean_dir = property(lambda self: self.root / "clean")
    removed_dir = property(lambda self: self.root / "removed")
    fingerprints_dir = property(lambda self: self.root / "fingerprints")
    labels_dir = property(lambda self: self.root / "labels")
    conditioned_dir = property(lambda self: self.root / "conditioned")
    tokenizer_dir = property(lambda self: self.root / "tokenizer")
    blocks_dir = property(lambda self: self.root / "blocks")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    eval_dir = property(lambda self: self.root / "eval")
    audit_db = property(lambda self: self.root / "audit.duckdb")
    dagster_home = property(lambda self: self.root / "dagster_home")
    sample_wheels = property(lambda self: self.root / "sample_wheels")
    sample_fiction = property(lambda self: self.root / "sample_fiction")
    tagged_sample = property(lambda self: self.root / "tagged" / "sample.parquet")
    labeler_adapter_dir = property(lambda self: self.root / "labeler_adapter")
    student_dir = property(lambda self: self.root / "student")
    teacher_sample = property(lambda self: self.student_dir / "teacher_sample.parquet")
    student_model = property(lambda self: self.student_dir / "model")  # published; a failed one: model-rejected

    def raw(self, shard: str) -> Path:
        return self.raw_dir / f"{shard}.parquet"

    def quarantine(self, shard: str) -> Path:
        return self.quarantine_dir / f"{shard}.parquet"

    def clean(self, shard: str) -> Path:
        return self.clean_dir / f"{shard}.parquet"

    def removed(self, shard: str) -> Path:
        return self.removed_dir / f"{shard}.parquet"

    def fingerprints(self, shard: str) -> Path:
        """Per-document exact hash, quality verdict and MinHash signature of a raw shard (reused across shards)."""
        return self.fingerprints_dir / f"{shard}.parquet"

    def raw_shards(self) -> list[str]:
        """Shards with ingested documents, in the canonical (name) order deduplication follows."""
        return sorted(p.name.removesuffix(".parquet") for p in self.raw_dir.glob("*.parquet"))

    def labels(self, shard: str) -> Path:
        return self.labels_dir / f"{shard}.parquet"

    def label_distributions(self, shard: str) -> Path:
        """Rating/topic/sentiment shares per labeler version of a shard (the drift check's history)."""
        return self.labels_dir / "_distributions" / f"{shard}.json"

    def label_history_dir(self, shard: str) -> Path:
        """Every kept labeler version's labels of a shard: ``<labeler_version>.parquet`` + ``.json`` (when, by whom)."""
        return self.labels_dir / "_history" / shard

    def label_history(self, shard: str, version: str) -> Path:
        return self.label_history_dir(shard) / f"{version}.parquet"

    def conditioned(self, shard: str) -> Path:
        return self.conditioned_dir / f"{shard}.parquet"

    def conditioned_files(self) -> list[Path]:
        return sorted(self.conditioned_dir.glob("*.parquet"))

    def blocks(self, shard: str) -> BlockFiles:
        return BlockFiles(self.blocks_dir, shard)

    @property
    def exports(self) -> ExportFiles:
        return ExportFiles(self.root / "exports")

    @property
    def tokenizer(self) -> TokenizerFiles:
        return TokenizerFiles(self.tokenizer_dir)

    def checkpoint(self, run: str) -> CheckpointFiles:
        return CheckpointFiles(self.checkpoints_dir / run)

    def checkpoint_manifests(self) -> list[Path]:
        return sorted(self.checkpoints_dir.glob("*/manifest.json"))

    @property
    def labeler_adapter(self) -> AdapterFiles:
        return AdapterFiles(self.labeler_adapter_dir)

    def evaluation(self, run: str) -> EvalFiles:
        return EvalFiles(self.eval_dir / run)

    def experiment(self, name: str) -> ExperimentFiles:
        return ExperimentFiles(self.root / "experiments" / name)

    def shard_inputs(self, asset: str, shard: str) -> dict[str, Path]:
        """The files a per-shard asset reads, by the asset that writes each (empty for raw_documents)."""
        inputs = {
            "clean_documents": {"raw_documents": self.raw(shard)},
            "document_labels": {"clean_documents": self.clean(shard)},
            "conditioned_examples": {"clean_documents": self.clean(shard), "document_labels": self.labels(shard)},
            "token_blocks": {
                "conditioned_examples": self.conditioned(shard),
                "tokenizer": self.tokenizer.tokenizer_json,
            },
            "block_exports": {"token_blocks": self.blocks(shard).meta},
        }
        return inputs.get(asset, {})

    def missing_inputs(self, asset: str, shard: str, built_first: frozenset[str] = frozenset()) -> list[str]:
        """One line per input of ``asset`` for ``shard`` that is missing and not in ``built_first``, with the
        command that builds it."""
        return [
            f"{asset} of shard {shard!r} needs {upstream} ({path} is missing): run "
            + (f"condpt materialize --select {upstream}" + ("" if upstream == "tokenizer" else f" --shard {shard}"))
            for upstream, path in self.shard_inputs(asset, shard).items()
            if upstream not in built_first and not path.is_file()
        ]

    def shard_lock(self, shard: str) -> Path:
        """Held by every run that writes one of the shard's files (core.io.shard_write_lock)."""
        return self.root / ".locks" / f"{shard}.lock"

    def asset_lock(self, asset: str) -> Path:
        """Held by a run of an unpartitioned asset (tokenizer, eval_report) while it writes."""
        return self.root / ".locks" / f"_{asset}.lock"

    def shard_outputs(self, shard: str) -> list[Path]:
        """Every file the per-shard assets write for ``shard``."""
        blocks = self.blocks(shard)
        return [
            self.raw(shard),
            self.quarantine(shard),
            self.clean(shard),
            self.removed(shard),
            self.fingerprints(shard),
            self.labels(shard),
            self.label_distributions(shard),
            self.conditioned(shard),
            *(blocks.tokens, blocks.mask, blocks.spans, blocks.heldout, blocks.meta),
            self.exports.hf_data(shard),
            self.exports.hf_lineage(shard),
        ]

    def inbox_files(self) -> list[Path]:
        """Inbox files with a supported extension, sorted by name (hidden and temporary files skipped)."""
        if not self.inbox.is_dir():
            return []
        return sorted(
            p
            for p in self.inbox.iterdir()
            if p.is_file() and not p.name.startswith(".") and shard_extension(p) is not None
        )

    def inbox_file(self, shard: str) -> Path:
        """The one inbox file behind partition ``shard``."""
        found = [p for p in (self.inbox / f"{shard}{ext}" for ext in SUPPORTED_EXTENSIONS) if p.is_file()]
        if not found:
            raise FileNotFoundError(
                f"shard {shard!r}: no inbox file {self.inbox}/{shard}{{{','.join(SUPPORTED_EXTENSIONS)}}}"
            )
        if len(found) > 1:
            raise FileExistsError(f"shard {shard!r}: ambiguous, several inbox files: {[p.name for p in found]}")
        return found[0]
