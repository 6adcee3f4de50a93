"""Train the labeler on a user's own tagged documents: a peft LoRA adapter on the MiniLM encoder plus a
multi-label head, with one calibrated threshold per tag; and the ``finetuned`` labeler that uses it.

Tagged set: Parquet or JSONL with ``text``, ``tags`` (list of strings, may be empty) and optional
``rating`` (becomes the tag ``rating:<value>``). Tags named ``topic:<x>``, ``sentiment:<x>``, ``format:<x>``
and ``rating:<x>`` fill those label fields; other tags become keyword tags.

Texts are deduplicated (after whitespace normalization) before a deterministic hash split into train and
validation, so no text is in both. Class imbalance is handled with a per-tag positive weight. Thresholds
maximize F1 per tag on validation (0.5 where validation has no positive).

Saved folder: ``adapter/`` (peft, safetensors), ``head.safetensors``, ``labeler.json`` (tags,
thresholds, encoder hash, settings, metrics).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support

from condpt_dagster.core.hashing import cached_sha256, unit_hash
from condpt_dagster.core.io import atomic_dir
from condpt_dagster.core.lake import AdapterFiles
from condpt_dagster.core.settings import LabelerAdapterSettings
from condpt_dagster.labelers.base import DocumentLabels, Labeler, rule_based_batch
from condpt_dagster.labelers.encoder import MINILM_SHA256, default_model_dir, verify_weights

FIELD_PREFIXES = ("topic:", "sentiment:", "format:", "rating:")


class TaggedSetError(ValueError):
    """The tagged set cannot be used; the message names the file and the reason."""


@dataclass
class TaggedSet:
    texts: list[str]
    tags: list[list[str]]
    duplicates_removed: int = 0


def load_tagged(path: str | os.PathLike[str]) -> TaggedSet:
    path = Path(path)
    if not path.is_file():
        raise TaggedSetError(f"{path}: no such tagged set")
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
    except Exception as exc:  # polars raises several error types for unreadable files
        kind = "Parquet" if path.suffix == ".parquet" else "JSONL"
        raise TaggedSetError(f"{path}: cannot read as {kind}: {exc}") from exc
    missing = [c for c in ("text", "tags") if c not in frame.columns]
    if missing:
        raise TaggedSetError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    if frame.schema["tags"] not in (pl.List(pl.String), pl.List(pl.Null)):
        raise TaggedSetError(f"{path}: 'tags' must be a list of strings, got {frame.schema['tags']}")
    rows = frame.select(["text", "tags", *(["rating"] if "rating" in frame.columns else [])]).to_dicts()
    texts, tags, seen = [], [], set()
    for row in rows:
        text = row["text"]
        if not isinstance(text, str) or not text.strip():
            continue
        key = " ".join(text.split()).lower()
        if key in seen:
            continue
        seen.add(key)
        doc_tags = sorted({t.strip() for t in (row["tags"] or []) if t and t.strip()})
        if row.get("rating"):
            doc_tags.append(f"rating:{row['rating']}")
        texts.append(text)
        tags.append(doc_tags)
    if not texts:
        raise TaggedSetError(f"{path}: no rows with text")
    return TaggedSet(texts, tags, duplicates_removed=len(rows) - len(texts))


def split(tagged: TaggedSet, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    val = [i for i, t in enumerate(tagged.texts) if unit_hash("validation", seed, t) < fraction]
    train = sorted(set(range(len(tagged.texts))) - set(val))
    return train, val


class TagModel(torch.nn.Module):
    """LoRA-adapted encoder, mean pooling, linear multi-label head."""

    def __init__(self, encoder: torch.nn.Module, n_tags: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(pooled)


def _encoder_with_lora(encoder_dir: Path, r: int, alpha: int, adapter_dir: Path | None = None):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModel

    base = AutoModel.from_pretrained(encoder_dir, local_files_only=True, use_safetensors=True)
    if adapter_dir is not None:
        return PeftModel.from_pretrained(base, adapter_dir, is_trainable=False)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=["query", "value"])
    return get_peft_model(base, config)


def _batches(tokenizer, texts: Sequence[str], max_tokens: int, batch_size: int):
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_tokens,
            padding=True,
            return_tensors="pt",
        )
        yield start, enc["input_ids"], enc["attention_mask"]


@torch.inference_mode()
def predict_proba(model: TagModel, tokenizer, texts: Sequence[str], max_tokens: int, batch_size: int = 32):
    model.eval()
    out = [torch.sigmoid(model(ids, mask)) for _, ids, mask in _batches(tokenizer, texts, max_tokens, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.head.out_features), dtype=np.float32)


def calibrate(y_true: np.ndarray, proba: np.ndarray) -> list[float]:
    """Per tag, the threshold with the best validation F1 (0.5 when validation has no positive)."""
    thresholds = []
    for j in range(y_true.shape[1]):
        if y_true[:, j].sum() == 0:
            thresholds.append(0.5)
            continue
        precision, recall, cuts = precision_recall_curve(y_true[:, j], proba[:, j])
        if not len(cuts):
            thresholds.append(0.5)
            continue
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = float(cuts[int(np.argmax(f1[:-1]))])
        # Halfway to the next lower score: a cut exactly on a score would flip on float noise after reload.
        below = proba[:, j][proba[:, j] < best]
        thresholds.append((best + float(below.max())) / 2 if len(below) else best / 2)
    return thresholds


def tag_metrics(tags: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    per_tag = [
        {
            "tag": t,
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for t, p, r, f, s in zip(tags, precision, recall, f1, support, strict=True)
    ]
    present = [row["f1"] for row in per_tag if row["support"] > 0]
    return {"per_tag": per_tag, "macro_f1": round(float(np.mean(present)), 4) if present else 0.0}


@dataclass
class FinetuneReport:
    tags: list[str]
    thresholds: list[float]
    train_docs: int
    validation_docs: int
    duplicates_removed: int
    single_example_tags: list[str]
    metrics: dict[str, Any]
    untrained_macro_f1: float
    trainable_share: float
    seconds_per_epoch: float
    history: list[float] = field(default_factory=list)


def _check_split(
    tagged_path, tagged: TaggedSet, options: LabelerAdapterSettings
) -> tuple[list[str], list[int], list[int]]:
    tags = sorted({t for doc in tagged.tags for t in doc})
    if not tags:
        raise TaggedSetError(f"{tagged_path}: no document has a tag")
    train_idx, val_idx = split(tagged, options.validation_fraction, options.seed)
    if not train_idx or not val_idx:
        raise TaggedSetError(
            f"{tagged_path}: {len(tagged.texts)} distinct texts are too few for a train/validation "
            f"split of {options.validation_fraction}"
        )
    return tags, train_idx, val_idx


def _train_epochs(model: TagModel, tokenizer, texts: list[str], y: np.ndarray, train_idx: list[int], options):
    """Train with class-balanced BCE; returns (loss history, seconds per epoch)."""
    positives = y[train_idx].sum(0)
    pos_weight = torch.tensor(np.clip((len(train_idx) - positives) / np.maximum(positives, 1), 1.0, 20.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": options.learning_rate},
            {"params": model.head.parameters(), "lr": options.head_learning_rate},
        ]
    )
    generator = torch.Generator().manual_seed(options.seed)
    history, epoch_seconds = [], []
    for _ in range(options.epochs):
        start = time.perf_counter()
        model.train()
        order = [train_idx[i] for i in torch.randperm(len(train_idx), generator=generator).tolist()]
        batch_texts = [texts[i] for i in order]
        for offset, ids, mask in _batches(tokenizer, batch_texts, options.max_tokens, options.batch_size):
            loss = loss_fn(model(ids, mask), torch.from_numpy(y[order[offset : offset + len(ids)]]))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            history.append(round(loss.item(), 5))
        epoch_seconds.append(time.perf_counter() - start)
    return history, epoch_seconds


def finetune(
    tagged_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], options: LabelerAdapterSettings | None = None
) -> FinetuneReport:
    """Train, calibrate on validation and save; the saved folder appears atomically."""
    from transformers import AutoTokenizer

    options = options or LabelerAdapterSettings()
    tagged = load_tagged(tagged_path)
    tags, train_idx, val_idx = _check_split(tagged_path, tagged, options)
    y = np.array([[t in doc for t in tags] for doc in tagged.tags], dtype=np.float32)
    encoder_dir = Path(options.encoder_dir) if options.encoder_dir else default_model_dir()
    encoder_sha = verify_weights(encoder_dir, MINILM_SHA256 if options.encoder_dir is None else None)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True)
    torch.manual_seed(options.seed)
    model = TagModel(_encoder_with_lora(encoder_dir, options.lora_r, options.lora_alpha), len(tags))
    val_texts = [tagged.texts[i] for i in val_idx]
    untrained = predict_proba(model, tokenizer, val_texts, options.max_tokens)
    history, epoch_seconds = _train_epochs(model, tokenizer, tagged.texts, y, train_idx, options)
    proba = predict_proba(model, tokenizer, val_texts, options.max_tokens)
    thresholds = calibrate(y[val_idx], proba)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report = FinetuneReport(
        tags=tags,
        thresholds=[round(t, 6) for t in thresholds],
        train_docs=len(train_idx),
        validation_docs=len(val_idx),
        duplicates_removed=tagged.duplicates_removed,
        single_example_tags=[t for t in tags if sum(t in doc for doc in tagged.tags) == 1],
        metrics=tag_metrics(tags, y[val_idx], (proba >= np.array(thresholds)).astype(int)),
        untrained_macro_f1=tag_metrics(tags, y[val_idx], (untrained >= 0.5).astype(int))["macro_f1"],
        trainable_share=round(trainable / sum(p.numel() for p in model.parameters()), 6),
        seconds_per_epoch=round(float(np.mean(epoch_seconds)), 2) if epoch_seconds else 0.0,
        history=history,
    )
    _save(model, AdapterFiles(Path(out_dir)), report, options, encoder_sha, val_idx, tagged)
    return report


def _save(
    model: TagModel,
    out: AdapterFiles,
    report: FinetuneReport,
    options: LabelerAdapterSettings,
    encoder_sha: str,
    val_idx: list[int],
    tagged: TaggedSet,
) -> None:
    info = {
        "tags": report.tags,
        "thresholds": report.thresholds,
        "encoder_sha256": encoder_sha,
        "options": options.model_dump(mode="json"),
        "report": {k: v for k, v in asdict(report).items() if k != "history"},
    }
    validation = pl.DataFrame({"text": [tagged.texts[i] for i in val_idx], "tags": [tagged.tags[i] for i in val_idx]})
    with atomic_dir(out.folder) as tmp:
        files = AdapterFiles(tmp)
        model.encoder.save_pretrained(files.adapter_dir)
        save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, files.head)
        files.info.write_text(json.dumps(info, indent=1), encoding="utf-8")
        validation.write_parquet(files.validation)


class FinetunedLabeler(Labeler):
    """Tags from a saved adapter; rating, topics and sentiment from ``rating:``/``topic:``/``sentiment:`` tags,
    the rest from the rule taggers."""

    name = "finetuned"

    def __init__(self, adapter_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(adapter_dir)
        self.files = AdapterFiles(self.dir)
        info_path = self.files.info
        if not info_path.is_file():
            raise FileNotFoundError(f"{self.dir}: no labeler.json; materialize the labeler_adapter asset first")
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.tags: list[str] = self.info["tags"]
        self.thresholds = np.array(self.info["thresholds"])
        self.options = LabelerAdapterSettings(**self.info["options"])
        self._model: TagModel | None = None
        self._tokenizer = None

    def fingerprint(self) -> dict[str, Any]:
        files = sorted(
            p for p in self.dir.rglob("*") if p.suffix in (".safetensors", ".json") and not p.name.startswith(".")
        )
        return {"files": {str(p.relative_to(self.dir)): cached_sha256(p) for p in files}}

    def _load(self) -> tuple[TagModel, Any]:
        if self._model is None:
            from transformers import AutoTokenizer

            encoder_dir = Path(self.options.encoder_dir) if self.options.encoder_dir else default_model_dir()
            verify_weights(encoder_dir, self.info["encoder_sha256"])
            model = TagModel(_encoder_with_lora(encoder_dir, 0, 0, adapter_dir=self.files.adapter_dir), len(self.tags))
            model.head.load_state_dict(load_file(self.files.head))
            self._model, self._tokenizer = (
                model.eval(),
                AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True),
            )
        return self._model, self._tokenizer

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        model, tokenizer = self._load()
        return predict_proba(model, tokenizer, texts, self.options.max_tokens)

    def predicted_tags(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        proba = self.predict_proba(texts)
        return [
            [(t, float(p)) for t, p, cut in zip(self.tags, row, self.thresholds, strict=True) if p >= cut]
            for row in proba
        ]

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        out = rule_based_batch(texts, "unknown")
        for labels, predicted in zip(out, self.predicted_tags(texts), strict=True):
            apply_tags(labels, predicted)
        return out


def apply_tags(labels: DocumentLabels, predicted: list[tuple[str, float]]) -> None:
    """Fold predicted tags into a label row: field tags set their field, the rest join ``tags``."""
    topics = [t.removeprefix("topic:") for t, _ in predicted if t.startswith("topic:")]
    sentiments = sorted((p, t.removeprefix("sentiment:")) for t, p in predicted if t.startswith("sentiment:"))
    ratings = sorted((p, t.removeprefix("rating:")) for t, p in predicted if t.startswith("rating:"))
    formats = sorted((p, t.removeprefix("format:")) for t, p in predicted if t.startswith("format:"))
    if formats:
        labels.format = formats[-1][1]
    if topics:
        labels.topics = topics
    if sentiments:
        labels.sentiment = sentiments[-1][1]
    if ratings:
        labels.rating = ratings[-1][1]
        labels.sfw = labels.rating != "R"
    plain = [t for t, _ in predicted if not t.startswith(FIELD_PREFIXES)]
    labels.tags = list(dict.fromkeys([*plain, *labels.tags]))
    labels.scores.update({f"finetuned:{t}": round(p, 4) for t, p in predicted})


def composite_tag_sets(labels: Sequence[DocumentLabels]) -> list[set[str]]:
    """A labeler's rows as tag sets in the tagged-set vocabulary, for side-by-side metrics."""
    return [
        {
            *(f"topic:{t}" for t in lab.topics),
            f"sentiment:{lab.sentiment}",
            f"format:{lab.format}",
            f"rating:{lab.rating}",
            *lab.tags,
        }
        for lab in labels
    ]
