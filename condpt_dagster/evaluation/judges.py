"""Independent judges of generated text: none of them is the labeler that wrote the training labels.

- ``sentiment``: the AFINN-165 word list (Nielsen 2011; ``afinn`` package), the sign of the summed word
  scores: positive, negative or neutral. The training labeler reads VADER and a MiniLM head instead.
- ``format``, ``topics``, ``rating``: :class:`BagOfWordsJudge`, a TF-IDF logistic regression fitted per field
  on windows of the corpus's own documents (their labels as targets). It shares no representation with the
  labeler (MiniLM embeddings, layout cues, profanity models), so a model that only picked up the labeler's
  quirks does not score with it; its agreement with the labels on held-out documents is reported.
- ``tags``: :class:`TagJudge`, literal presence of the requested keyword (or its lemma) in the text.

:class:`Judges` holds one of each for an experiment; :func:`fit_judges` fits the bag-of-words ones on the
documents the model trained on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from condpt_dagster.conditioning.heldout import HeldOut
from condpt_dagster.conditioning.seen import training_label_paths
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation.requests import STEERABLE_FIELDS, Requests, label_value
from condpt_dagster.labelers.tags import lemma, lemma_phrase

WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


class SentimentJudge:
    """AFINN-165: sum of word valences (-5..5); > 0 positive, < 0 negative, 0 neutral."""

    name = "afinn-165 word list (sign of summed valence)"

    @cached_property
    def _afinn(self):
        from afinn import Afinn

        return Afinn(language="en")

    def score(self, text: str) -> float:
        return float(self._afinn.score(text))

    def judge(self, texts: Sequence[str]) -> list[str]:
        return ["positive" if s > 0 else "negative" if s < 0 else "neutral" for s in map(self.score, texts)]


def windows(text: str, width: int, rng: random.Random, count: int) -> list[str]:
    """The first ``width`` words and ``count - 1`` random ``width``-word windows: generation-sized pieces."""
    words = text.split()
    if len(words) <= width:
        return [" ".join(words)]
    starts = [0] + [rng.randrange(0, len(words) - width + 1) for _ in range(count - 1)]
    return [" ".join(words[s : s + width]) for s in starts]


@dataclass
class BagOfWordsJudge:
    """A TF-IDF (1-2 grams) logistic regression from text windows to one field's value."""

    field_name: str
    pipeline: Pipeline
    classes: list[str]
    agreement: float | None = None  # with the labels of held-out documents
    validation_docs: int = 0
    train_windows: int = 0
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"tf-idf logistic regression ({self.field_name}, fitted on corpus windows)"

    @classmethod
    def fit(
        cls,
        field_name: str,
        train: Sequence[tuple[str, str]],
        validation: Sequence[tuple[str, str]] = (),
        width: int = 40,
        per_doc: int = 3,
        seed: int = 0,
    ) -> BagOfWordsJudge:
        """``train``/``validation``: (document text, its value). Values seen in fewer than 2 documents are
        dropped from training (a class the regression cannot learn)."""
        counts: dict[str, int] = {}
        for _, value in train:
            counts[value] = counts.get(value, 0) + 1
        rng = random.Random(seed)
        texts, targets = [], []
        for text, value in train:
            if counts[value] >= 2:
                pieces = windows(text, width, rng, per_doc)
                texts += pieces
                targets += [value] * len(pieces)
        if len(set(targets)) < 2:
            raise ValueError(f"{field_name}: the judge needs documents of at least two values, got {sorted(counts)}")
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=100_000),
            LogisticRegression(C=4.0, max_iter=2000),
        )
        pipeline.fit(texts, targets)
        judge = cls(field_name, pipeline, list(pipeline.classes_), train_windows=len(texts))
        if validation:
            pieces = [windows(t, width, rng, 1)[0] for t, _ in validation]
            predicted = judge.judge(pieces)
            judge.agreement = round(
                float(np.mean([p == v for p, (_, v) in zip(predicted, validation, strict=True)])), 4
            )
            judge.validation_docs = len(validation)
        return judge

    def judge(self, texts: Sequence[str]) -> list[str]:
        return [str(v) for v in self.pipeline.predict(list(texts))] if texts else []


class TagJudge:
    """Whether the requested keyword occurs in the text, as written or lemmatized."""

    name = "keyword present (word or lemma match)"

    def present(self, tag: str, text: str) -> bool:
        words = [w.lower() for w in WORD.findall(text)]
        surface, lemmas = " " + " ".join(words) + " ", " " + " ".join(lemma(w) for w in words) + " "
        return f" {tag.lower()} " in surface or f" {lemma_phrase(tag)} " in lemmas

    def judge(self, tag: str, texts: Sequence[str]) -> list[str]:
        return [tag if self.present(tag, t) else "(absent)" for t in texts]


class Judge(Protocol):
    """What decides, for one field, which value each generated text has: the independent panel
    (:class:`Judges`) and the training labeler (:class:`LabelerJudge`) both answer this way."""

    name: str

    def verdicts(self, name: str, texts: Sequence[str], value: str | None = None) -> list[str]:
        """The judged value of each text (for tags: whether it carries ``value``)."""
        ...

    def hits(self, name: str, texts: Sequence[str], values: Sequence[str]) -> dict[str, list[bool]]:
        """For each value, whether each text is judged to be it."""
        ...


@dataclass
class LabelerJudge:
    """The labeler that wrote the training labels, as a judge. It shares the labels' quirks, so a model can
    please it without following the labels: the eval report uses it, the steering experiment reports it
    beside the independent judges, never instead of them."""

    label: Callable[[list[str]], list[Any]]  # texts -> DocumentLabels
    name: str = "training labeler"

    @staticmethod
    def value(row: Any, name: str, requested: str | None = None) -> str:
        """A label row's judged value: the first topic, the requested tag or "(other)", else the field."""
        if name == "topics":
            return row.topics[0] if row.topics else "(none)"
        if name == "tags":
            return requested if requested is not None and requested in row.tags else "(other)"
        return str(getattr(row, name))

    def verdicts(self, name: str, texts: Sequence[str], value: str | None = None) -> list[str]:
        return [self.value(row, name, value) for row in self.label(list(texts))]

    def hits(self, name: str, texts: Sequence[str], values: Sequence[str]) -> dict[str, list[bool]]:
        rows = self.label(list(texts))  # labelled once for every value
        return {v: [self.value(row, name, v) == v for row in rows] for v in values}


@dataclass
class Judges:
    """The independent panel: one judge per field, none of them the training labeler."""

    name = "independent judges"
    sentiment: SentimentJudge = field(default_factory=SentimentJudge)
    closed: dict[str, BagOfWordsJudge] = field(default_factory=dict)
    tags: TagJudge = field(default_factory=TagJudge)

    def verdicts(self, name: str, texts: Sequence[str], value: str | None = None) -> list[str]:
        """The judged value of each text (for tags: ``value`` or "(absent)")."""
        if name == "tags":
            return self.tags.judge(value or "", texts)
        return self.sentiment.judge(texts) if name == "sentiment" else self.closed[name].judge(texts)

    def hits(self, name: str, texts: Sequence[str], values: Sequence[str]) -> dict[str, list[bool]]:
        """For each value, whether each text is judged to be it (one pass over the texts except for tags)."""
        shared = None if name == "tags" else self.verdicts(name, texts)
        return {v: [j == v for j in (self.verdicts(name, texts, v) if shared is None else shared)] for v in values}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sentiment": {"judge": self.sentiment.name}, "tags": {"judge": self.tags.name}}
        for name, judge in self.closed.items():
            out[name] = {
                "judge": judge.name,
                "agreement_with_labels": judge.agreement,
                "validation_docs": judge.validation_docs,
                "classes": judge.classes,
            }
        return out


def training_documents(lake: DataLake, shards: Sequence[str], limit: int) -> pl.DataFrame:
    """(id, text, label columns) of up to ``limit`` documents packed into the shards' blocks."""
    frames = []
    for shard in shards:
        labels_path, packed = training_label_paths(lake, shard)
        if labels_path is None:
            continue
        labels = pl.read_parquet(labels_path, columns=["id", *STEERABLE_FIELDS]).filter(pl.col("id").is_in(packed))
        frames.append(labels.join(pl.read_parquet(lake.clean(shard), columns=["id", "text"]), on="id"))
    if not frames:
        raise FileNotFoundError(f"{lake.blocks_dir}: no labeled documents in the blocks of {list(shards)}")
    frame = pl.concat(frames)
    return frame.sample(n=min(limit, len(frame)), seed=0) if len(frame) > limit else frame


def fit_judges(
    lake: DataLake, shards: Sequence[str], heldout: HeldOut, requests: Requests, options: ExperimentSettings
) -> Judges:
    """Bag-of-words judges for the closed fields asked for, fitted on training documents and checked against
    the labels of the held-out ones."""
    docs = training_documents(lake, shards, options.judge_docs).to_dicts()
    held_rows = [{**labels, "text": text} for labels, text in zip(heldout.labels, heldout.texts, strict=True)]
    judges = Judges()
    for name in ("rating", "format", "topics"):
        if name not in requests.values:
            continue
        train = [(d["text"], v) for d in docs if (v := label_value(d, name))]
        validation = [(d["text"], v) for d in held_rows if (v := label_value(d, name))]
        judges.closed[name] = BagOfWordsJudge.fit(name, train, validation, seed=options.seed)
    return judges
