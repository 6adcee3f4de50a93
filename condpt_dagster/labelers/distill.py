"""Train a student labeler (labelers/student.py) on a teacher's labels of the user's own documents.

1. **Static embeddings**: model2vec distils the teacher's sentence encoder (all-MiniLM-L6-v2 by default)
   into one vector per vocabulary token (SIF weighting, the encoder's width), ~10 s on a CPU; then the token
   vectors are tuned so that mean vectors reproduce the teacher's own sentence and document embeddings of the
   sample (``tune_static``: model2vec's tokenlearn recipe). Zero-shot the distilled vectors are far from the
   teacher's space (cosine 0.36 on the sample corpus); tuned, 0.9.
2. **Heads**: topics and format reuse the teacher's own heads on the tuned document vector (its topic and
   format prototypes and its second opinion on format, kept in ``heads.npz``, and its format model with layout
   cues); scikit-learn fits ridge regressions (alpha by cross-validation) of the rating score's logit and the
   sentiment score's arctanh on the vector plus structure cues and rating-lexicon counts. Values the teacher
   gave fewer than ``min_examples`` times in the training part are refused. Names and thresholds go to
   ``manifest.json``.
3. **Agreement**: the held-out part (``holdout``, drawn by document id) is labelled by the student through
   the same code that labels the corpus, and compared with the teacher field by field. The student is
   published (``folder``) only when every figure clears its threshold; otherwise it goes to ``rejected``
   beside it, and the report says which figure fell short and by how much.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from condpt_dagster.core.hashing import config_version, unit_hash
from condpt_dagster.core.io import atomic_dir
from condpt_dagster.core.vocab import RATINGS, STEERABLE_FORMATS
from condpt_dagster.labelers import format as formats
from condpt_dagster.labelers import format_cues, rules
from condpt_dagster.labelers.encoder import verify_weights
from condpt_dagster.labelers.rating import RATING_TIERS, RatingHead
from condpt_dagster.labelers.static_encoder import StaticEncoder
from condpt_dagster.labelers.student import (
    HEADS_FILE,
    MANIFEST_FILE,
    STATIC_DIR,
    TAXONOMY_FILE,
    StudentLabeler,
    keep_format_head,
    read_batch,
)

READ_BATCH = 512  # documents featurized at a time while training
STATIC_CACHE = ".static-cache"  # beside the student folder: distilled static models by encoder
TUNE_LR = 2e-2  # Adam on the token vectors: a few epochs reach the plateau (bench/student.py)
TUNE_BATCH_DOCS = 64


@dataclass(frozen=True)
class DistillSettings:
    holdout: float = 0.2  # share of the sample kept out of training to measure agreement
    min_examples: int = 20  # teacher labels a value needs in the training part to be emitted
    epochs: int = 8  # passes of static-embedding tuning (the best on a tenth of the training part is kept)
    seed: int = 0
    min_agreement: float = 0.90  # format, top topic, rating
    min_sentiment_agreement: float = 0.85  # sign of the sentiment score where the teacher's label is polar


@dataclass
class DistillReport:
    train_docs: int
    holdout_docs: int
    agreement: dict[str, float]
    thresholds: dict[str, float]
    refused: dict[str, dict[str, int]]
    counts: dict[str, dict[str, int]]
    passed: bool
    summary: str
    published: Path
    seconds: dict[str, float] = field(default_factory=dict)


def _targets(rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    scores = [json.loads(r["scores"] or "{}") for r in rows]
    rating = np.clip([s.get("rating", 0.0) for s in scores], 1e-4, 1 - 1e-4)
    sentiment = np.clip([s.get("sentiment", 0.0) for s in scores], -0.999, 0.999)
    return {"rating": np.log(rating / (1 - rating)), "sentiment": np.arctanh(sentiment)}


def _rare(values: Sequence[str], min_examples: int, known: Sequence[str]) -> dict[str, int]:
    counts = Counter(values)
    return {v: counts.get(v, 0) for v in known if counts.get(v, 0) < min_examples}


def _fit_heads(
    x: np.ndarray, y: dict[str, np.ndarray], factual: np.ndarray, min_examples: int
) -> dict[str, np.ndarray]:
    """Ridge regressions (alpha by cross-validation) of the rating score's logit and the sentiment score's
    arctanh on standardized features; and of the sentiment on the documents of factual formats alone, where the
    teacher's score is its lexicon's and not the review-trained mix (``sentiment_factual``, if there are at least
    ``min_examples``)."""
    from sklearn.linear_model import RidgeCV

    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    arrays = {"feature_mean": mean, "feature_scale": scale}
    fits = {"rating": (z, y["rating"]), "sentiment": (z, y["sentiment"])}
    if factual.sum() >= min_examples:
        fits["sentiment_factual"] = (z[factual], y["sentiment"][factual])
    for name, (inputs, target) in fits.items():
        ridge = RidgeCV(alphas=(0.1, 1.0, 10.0, 100.0, 1000.0)).fit(inputs, target)
        arrays[f"{name}_coef"], arrays[f"{name}_intercept"] = ridge.coef_, np.asarray(ridge.intercept_)
    return arrays


def agreement(student: Sequence[Any], teacher: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Share of held-out documents where the student says what the teacher said, field by field."""

    def top(topics: Sequence[str]) -> str | None:
        return topics[0] if len(topics) else None

    pairs = list(zip(student, teacher, strict=True))
    n = max(1, len(pairs))
    # the sign where the teacher's label is polar: a neutral document's score sits near 0, its sign is noise
    signs = [
        (s.scores["sentiment"] >= 0) == (t["sentiment"] == "positive")
        for s, t in pairs
        if t["sentiment"] in ("positive", "negative")
    ]
    return {
        "format": sum(s.format == t["format"] for s, t in pairs) / n,
        "top_topic": sum(top(s.topics) == top(list(t["topics"])) for s, t in pairs) / n,
        "rating": sum(s.rating == t["rating"] for s, t in pairs) / n,
        "sentiment_sign": sum(signs) / len(signs) if signs else 1.0,
        "sentiment_label": sum(s.sentiment == t["sentiment"] for s, t in pairs) / n,
    }


def _verdict(scores: dict[str, float], options: DistillSettings) -> tuple[dict[str, float], bool, str]:
    thresholds = {
        "format": options.min_agreement,
        "top_topic": options.min_agreement,
        "rating": options.min_agreement,
        "sentiment_sign": options.min_sentiment_agreement,
    }
    short = {k: t - scores[k] for k, t in thresholds.items() if scores[k] < t}
    if not short:
        return thresholds, True, "every agreement figure clears its threshold"
    parts = [f"{k} {scores[k]:.3f} < {thresholds[k]:.2f} (short by {gap:.3f})" for k, gap in short.items()]
    return thresholds, False, "; ".join(parts)


def _features(static: StaticEncoder, texts: Sequence[str]) -> np.ndarray:
    tables = rules.RuleTables()
    parts = [read_batch(static, texts[i : i + READ_BATCH], tables).features for i in range(0, len(texts), READ_BATCH)]
    return np.vstack(parts) if parts else np.zeros((0, 0))


def train_student(
    ids: Sequence[str],
    texts: Sequence[str],
    teacher_rows: Sequence[dict[str, Any]],
    reads: TeacherReads,
    teacher: dict[str, Any],
    folder: Path,
    options: DistillSettings = DistillSettings(),
) -> DistillReport:
    """Fit a student on ``teacher_rows`` (LABEL_SCHEMA rows of ``texts``) and the teacher's ``reads`` of them,
    and publish it to ``folder`` if it agrees with the teacher; ``teacher``: its name, version, encoder folder
    and taxonomy file."""
    if not (len(ids) == len(texts) == len(teacher_rows) == len(reads.sentences)):
        raise ValueError("ids, texts, teacher rows and teacher reads differ in length")
    from condpt_dagster.labelers.taxonomy import Taxonomy

    seconds: dict[str, float] = {}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        held = np.array([unit_hash(i, options.seed, "student-holdout") < options.holdout for i in ids])
        if held.all() or not held.any():
            raise ValueError(f"holdout {options.holdout} of {len(ids)} documents leaves no training or held-out part")
        start = time.perf_counter()
        base = distilled_static(Path(teacher["encoder_dir"]), folder.parent / STATIC_CACHE)
        seconds["distill_static"] = time.perf_counter() - start
        start = time.perf_counter()
        tuned = tune_static(base, staging / STATIC_DIR, reads, ~held, options.epochs, options.seed)
        seconds["tune_static"] = time.perf_counter() - start
        shutil.copyfile(teacher["taxonomy_path"], staging / TAXONOMY_FILE)
        taxonomy = Taxonomy(staging / TAXONOMY_FILE)
        topics = list(taxonomy.topics)
        start = time.perf_counter()
        x = _features(StaticEncoder(staging / STATIC_DIR), texts)
        y = _targets(teacher_rows)
        seconds["featurize"] = time.perf_counter() - start
        start = time.perf_counter()
        train = ~held
        counts = _counts(teacher_rows, train)
        refused = _refusals(teacher_rows, train, topics, options.min_examples)
        factual = np.array([r["format"] in taxonomy.factual_formats for r in teacher_rows])
        arrays = _fit_heads(x[train], {k: v[train] for k, v in y.items()}, factual[train], options.min_examples)
        arrays["topic_prototypes"], arrays["format_prototypes"] = reads.topic_prototypes, reads.format_prototypes
        seconds["fit_heads"] = time.perf_counter() - start
        classes = {"format": list(taxonomy.formats), "topics": topics}
        manifest = _manifest(teacher, options, classes, refused, counts, int(train.sum()), int(held.sum()))
        manifest["format_embedding"] = keep_format_head(arrays)  # the teacher's second opinion on format
        manifest["static_tuning"] = tuned
        np.savez(staging / HEADS_FILE, **arrays)
        _write_manifest(staging, manifest)
        scores = _agreement_and_words(StudentLabeler(staging, require_passed=False), texts, teacher_rows, held, seconds)
        thresholds, passed, summary = _verdict(scores, options)
        published = _publish(staging, folder, manifest, scores, (thresholds, passed, summary))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DistillReport(
        int(train.sum()), int(held.sum()), scores, thresholds, refused, counts, passed, summary, published, seconds
    )


def _agreement_and_words(
    student: StudentLabeler, texts: Sequence[str], rows: Sequence[dict[str, Any]], held: np.ndarray, seconds: dict
) -> dict[str, float]:
    """The student's agreement with the teacher on the held-out part; then it labels the training part too and
    keeps every word it met (labelers/student_words.py)."""
    start = time.perf_counter()
    held_idx = np.flatnonzero(held)
    scores = agreement(student.label([texts[i] for i in held_idx]), [rows[i] for i in held_idx])
    seconds["agreement"] = time.perf_counter() - start
    start = time.perf_counter()
    train = [texts[i] for i in np.flatnonzero(~held)]
    for i in range(0, len(train), student.batch_docs):
        student.label(train[i : i + student.batch_docs])
    student.save_words()
    seconds["word_tables"] = time.perf_counter() - start
    return scores


SENTIMENTS = ("positive", "negative")  # neutral, like the format unknown, is what a refusal falls back to


def _refusals(rows: Sequence[dict[str, Any]], train: np.ndarray, topics: list[str], least: int) -> dict:
    """Per field, the values the teacher gave fewer than ``least`` times in the training part (and how often)."""
    picked = [rows[i] for i in np.flatnonzero(train)]
    return {
        "format": _rare([r["format"] for r in picked], least, STEERABLE_FORMATS),
        # a topic anywhere in the teacher's list is a teacher label of it (the student emits lists, and one
        # prototype scores a topic wherever it ranks); counting only first places refused topics that are
        # given often but seldom first (BENCHMARKS.md "Scale, part 9")
        "topics": _rare(_given_topics(rows, train), least, topics),
        "rating": _rare([r["rating"] for r in picked], least, RATINGS),
        "sentiment": _rare([r["sentiment"] for r in picked], least, SENTIMENTS),
    }


def _top_topics(rows: Sequence[dict[str, Any]], mask: np.ndarray) -> list[str]:
    return [rows[i]["topics"][0] for i in np.flatnonzero(mask) if len(rows[i]["topics"])]


def _given_topics(rows: Sequence[dict[str, Any]], mask: np.ndarray) -> list[str]:
    return [topic for i in np.flatnonzero(mask) for topic in rows[i]["topics"]]


def _counts(rows: Sequence[dict[str, Any]], mask: np.ndarray) -> dict[str, dict[str, int]]:
    picked = [rows[i] for i in np.flatnonzero(mask)]
    return {
        "format": dict(Counter(r["format"] for r in picked)),
        "top_topic": dict(Counter(_top_topics(rows, mask))),
        "topics": dict(Counter(_given_topics(rows, mask))),  # every place in the list: what refusals count
        "rating": dict(Counter(r["rating"] for r in picked)),
        "sentiment": dict(Counter(r["sentiment"] for r in picked)),
    }


def _manifest(
    teacher: dict[str, Any],
    options: DistillSettings,
    classes: dict[str, list[str]],
    refused: dict[str, dict[str, int]],
    counts: dict[str, dict[str, int]],
    train_docs: int,
    holdout_docs: int,
) -> dict[str, Any]:
    return {
        "teacher": {"labeler": teacher["labeler"], "labeler_version": teacher["labeler_version"]},
        "options": asdict(options),
        "features": {"structure_cues": list(format_cues.STRUCTURE_CUES), "rating_tiers": list(RATING_TIERS)},
        "classes": classes,
        "rating_thresholds": RatingHead.load("rating_encoder").thresholds,
        "format_model": asdict(formats.FormatModel.load()),
        "refused": refused,
        "teacher_counts": counts,
        "train_docs": train_docs,
        "holdout_docs": holdout_docs,
        "agreement_check": {"passed": False, "summary": "not measured yet"},
    }


def _publish(staging: Path, folder: Path, manifest: dict[str, Any], scores: dict[str, float], verdict) -> Path:
    """Record the agreement and swap the student in as ``folder``, or as ``<folder>-rejected`` if it failed."""
    thresholds, passed, summary = verdict
    manifest["agreement"] = {k: round(v, 4) for k, v in scores.items()}
    manifest["agreement_check"] = {"passed": passed, "thresholds": thresholds, "summary": summary}
    _write_manifest(staging, manifest)
    published = folder if passed else folder.parent / f"{folder.name}-rejected"
    with atomic_dir(published) as tmp:  # readers see the old student or the new one, never a mix
        shutil.copytree(staging, tmp, dirs_exist_ok=True)
    return published


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")


@dataclass
class TeacherReads:
    """How the teacher's encoder read each sampled document: the targets the static embeddings are tuned to."""

    sentences: list[list[str]]  # per document, the sentences the teacher embedded
    sentence_vectors: np.ndarray  # (sum of sentences, dim), in document order
    document_vectors: np.ndarray  # (documents, dim); zero rows for documents without sentences
    topic_prototypes: np.ndarray  # (topics, dim): the teacher's taxonomy topics, in taxonomy order
    format_prototypes: np.ndarray  # (formats, dim)


def tune_static(
    base: Path, out: Path, reads: TeacherReads, train: np.ndarray, epochs: int, seed: int
) -> dict[str, float]:
    """Fine-tune the distilled token vectors so that a sentence's mean vector matches the teacher's embedding of
    it and a document's mean of sentences matches the teacher's document embedding (cosine losses; Adam), the
    recipe of model2vec's tokenlearn on the user's own documents. A tenth of the training documents decides
    when to stop; returns the cosines reached there."""
    import torch
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(base)
    encoder = StaticEncoder(base)
    start = np.cumsum([0, *(len(s) for s in reads.sentences)])
    ids = encoder.token_ids([s for doc in reads.sentences for s in doc])
    docs = np.flatnonzero(train & (np.linalg.norm(reads.document_vectors, axis=1) > 0))
    rng = np.random.default_rng(seed)
    rng.shuffle(docs)
    check, fit = docs[: max(1, len(docs) // 10)], docs[max(1, len(docs) // 10) :]
    sentence_targets = torch.tensor(reads.sentence_vectors, dtype=torch.float32)
    doc_targets = torch.tensor(reads.document_vectors, dtype=torch.float32)

    def forward(table: torch.Tensor, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [(j, s) for j, d in enumerate(batch) for s in range(start[d], start[d + 1]) if ids[s]]
        tokens = torch.tensor([t for _, s in rows for t in ids[s]])
        offsets = torch.tensor(np.cumsum([0, *(len(ids[s]) for _, s in rows[:-1])]))
        sentences = torch.nn.functional.normalize(torch.nn.functional.embedding_bag(tokens, table, offsets), dim=-1)
        owner = torch.tensor([j for j, _ in rows])
        documents = torch.zeros(len(batch), table.shape[1]).index_add_(0, owner, sentences)
        documents = torch.nn.functional.normalize(documents, dim=-1)
        sentence_cos = (sentences * sentence_targets[[s for _, s in rows]]).sum(1)
        return sentence_cos, (documents * doc_targets[batch]).sum(1)

    table = torch.nn.Parameter(torch.tensor(np.asarray(model.embedding, dtype=np.float32)))
    optimizer = torch.optim.Adam([table], lr=TUNE_LR)
    best, best_table = {"document_cosine": -1.0, "sentence_cosine": -1.0}, table.detach().clone()
    for _ in range(epochs):
        rng.shuffle(fit)
        for i in range(0, len(fit), TUNE_BATCH_DOCS):
            sentence_cos, doc_cos = forward(table, fit[i : i + TUNE_BATCH_DOCS])
            loss = (1 - doc_cos).mean() + (1 - sentence_cos).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            sentence_cos, doc_cos = forward(table, check)
        if doc_cos.mean().item() > best["document_cosine"]:
            best = {"document_cosine": doc_cos.mean().item(), "sentence_cosine": sentence_cos.mean().item()}
            best_table = table.detach().clone()
    model.embedding = best_table.numpy().astype(np.float32)
    model.save_pretrained(out)
    return {k: round(v, 4) for k, v in best.items()}


def distilled_static(encoder_dir: Path, cache: Path) -> Path:
    """model2vec's distillation of ``encoder_dir`` at the encoder's own width (tuning matches the teacher's
    vectors), made once per encoder weights under ``cache``: retraining on a new sample does not distil again."""
    import os

    import model2vec
    from model2vec.distill import distill

    key = config_version("1", {"weights": verify_weights(encoder_dir, None), "model2vec": model2vec.__version__})
    out = cache / key
    if not (out / "model.safetensors").is_file():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never a hub lookup
        with atomic_dir(out) as tmp, _quiet_progress_bars():
            distill(model_name=str(encoder_dir), pca_dims=None).save_pretrained(tmp)
    return out


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """model2vec draws tqdm bars on stderr while it distils: noise in a run's log."""
    with redirect_stderr(io.StringIO()):
        yield
