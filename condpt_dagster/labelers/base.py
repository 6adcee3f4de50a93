"""What every labeler produces: one :class:`DocumentLabels` per document, stored with ``LABEL_SCHEMA``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from condpt_dagster.core.hashing import config_version
from condpt_dagster.core.vocab import SYNOPSIS_MAX_CHARS

if TYPE_CHECKING:
    from condpt_dagster.labelers.rules import RuleLabels

EMPTY_SYNOPSIS = "(no text)"

LABEL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("tags", pa.list_(pa.string())),  # open-vocabulary keywords
        ("topics", pa.list_(pa.string())),  # from the taxonomy
        ("rating", pa.string()),  # G / PG / PG-13 / R
        ("sfw", pa.bool_()),
        ("sentiment", pa.string()),  # positive / negative / neutral (unknown if the labeler has none)
        ("format", pa.string()),  # news / fiction / ... (core.vocab.FORMATS; unknown if the labeler has none)
        ("language", pa.string()),  # ISO 639-1, "und" when undetermined
        ("synopsis", pa.string()),  # one line, never empty
        ("length", pa.string()),  # short / medium / long / very long
        ("readability", pa.float32()),  # Flesch-Kincaid grade
        ("scores", pa.string()),  # JSON object: "topic:politics" -> 0.41, "sentiment" -> -0.62, "rating" -> 0.08, ...
        ("labeler", pa.string()),
        ("labeler_version", pa.string()),
        ("error", pa.string()),  # null, or why a labeler fell back (e.g. unparseable model output)
    ]
)
LABEL_DESCRIPTIONS = {
    "id": "the document's id (clean_documents)",
    "tags": "open-vocabulary keywords of the document, best first",
    "topics": "topics from the taxonomy (data/taxonomy.toml), best first; may be empty",
    "rating": "content rating: G, PG, PG-13 or R",
    "sfw": "safe for work: false for R and for documents the rating rules flag",
    "sentiment": "positive, negative or neutral (unknown if the labeler has none)",
    "format": "genre / register (news, fiction, review, ...; unknown if the labeler cannot tell)",
    "language": "ISO 639-1 code, `und` when undetermined",
    "synopsis": "one line summing the document up, never empty",
    "length": "short, medium, long or very long (by words)",
    "readability": "Flesch-Kincaid grade level",
    "scores": 'JSON object of the scores behind the labels ("topic:politics": 0.41, "sentiment": -0.62, ...)',
    "labeler": "the labeler that wrote the row (composite, student, finetuned, generative)",
    "labeler_version": "hash of the labeler's code, settings and model files: a new one marks labels unsynced",
    "error": "null, or why the labeler fell back for this row (refused a value, unparseable output, ...)",
}


@dataclass
class DocumentLabels:
    tags: list[str]
    topics: list[str]
    rating: str
    sfw: bool
    sentiment: str
    language: str
    synopsis: str
    length: str
    readability: float
    format: str = "unknown"
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def one_line(text: str, limit: int = SYNOPSIS_MAX_CHARS) -> str:
    """Collapse whitespace and cut at a word boundary to at most ``limit`` characters (ellipsis included)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "…"


def rule_based_labels(
    text: str,
    sentiment: str,
    synopsis_chars: int = SYNOPSIS_MAX_CHARS,
    profanity_probability: float | None = None,
    doc_vec: np.ndarray | None = None,
) -> DocumentLabels:
    """What the rule taggers alone say: the starting point of every labeler and its fallback.

    With ``profanity_probability`` (alt-profanity-check's, see :func:`rule_based_batch`) the lexicon rating is
    raised by the learned rating score, which goes to ``scores.rating``; with the encoder's ``doc_vec`` too,
    by the score that also reads the embedding.
    """
    from condpt_dagster.labelers.rules import rule_labels

    return labels_from_rules(text, rule_labels(text), sentiment, synopsis_chars, profanity_probability, doc_vec)


def labels_from_rules(
    text: str,
    rule: RuleLabels,
    sentiment: str,
    synopsis_chars: int = SYNOPSIS_MAX_CHARS,
    profanity_probability: float | None = None,
    doc_vec: np.ndarray | None = None,
) -> DocumentLabels:
    """:func:`rule_based_labels` from ``rule`` (``rules.rule_labels(text)``, the costly part, computed
    elsewhere: the composite labeler's text workers read it before the encoder has the document's vector)."""
    from condpt_dagster.labelers.rating import RatingHead, rating_features

    rating, scores = rule.rating, {"language": rule.language_score}
    if profanity_probability is not None:
        head = RatingHead.load("rating" if doc_vec is None else "rating_encoder")
        features = rating_features(profanity_probability, rule.hits, rule.words)
        if doc_vec is not None:
            features = np.append(features, head.encoder_logit(doc_vec))
        score = head.score(features)
        rating, scores["rating"] = head.rating(score, rule.rating), round(score, 4)
    return DocumentLabels(
        tags=[],
        topics=[],
        rating=rating,
        sfw=rule.sfw and rating != "R",
        sentiment=sentiment,
        language=rule.language,
        synopsis=one_line(text, synopsis_chars) or EMPTY_SYNOPSIS,
        length=rule.length,
        readability=rule.readability,
        scores=scores,
    )


RATING_SAMPLE_CHARS = 50_000  # the learned score reads the opening; the lexicon counts the whole text


def rule_based_batch(
    texts: Sequence[str],
    sentiment: str,
    synopsis_chars: int = SYNOPSIS_MAX_CHARS,
    doc_vecs: Sequence[np.ndarray | None] | None = None,
) -> list[DocumentLabels]:
    """:func:`rule_based_labels` for a batch, with the learned rating score (one classifier call per batch);
    ``doc_vecs``: the encoder's document embeddings (None for a document without one)."""
    from condpt_dagster.labelers.rating import profanity_probabilities
    from condpt_dagster.labelers.rules import strip_markup

    probabilities = profanity_probabilities([strip_markup(t[:RATING_SAMPLE_CHARS]) for t in texts])
    vecs = doc_vecs if doc_vecs is not None else [None] * len(texts)
    return [
        rule_based_labels(t, sentiment, synopsis_chars, float(p), v)
        for t, p, v in zip(texts, probabilities, vecs, strict=True)
    ]


class Labeler(ABC):
    """A named labeler; :meth:`version` changes whenever its output could change."""

    name: str
    revision: str = "1"  # bump in a subclass when the same config would give different labels

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Config, model file hashes and data file hashes that determine the output.

        Hash large files with :func:`~condpt_dagster.core.hashing.cached_sha256`: the version is computed
        every time the code location loads.
        """

    # Documents per label() call when [labeler] batch_docs is unset: what this labeler reads fastest per
    # document without holding too much at once.
    batch_docs: int = 32

    def version(self) -> str:
        """Hashes the files once per instance: the version of the model this instance loaded."""
        if getattr(self, "_version", None) is None:
            from condpt_dagster.labelers import rules  # every labeler's language, length and readability

            self._version = config_version(
                self.revision, {"labeler": self.name, "rules": rules.REVISION, **self.fingerprint()}
            )
        return self._version

    @abstractmethod
    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        """Labels for a batch of documents, one per text, in order; never raises on odd text."""

    def label_batches(self, batches: Iterable[Sequence[str]]) -> Iterator[list[DocumentLabels]]:
        """:meth:`label` of each batch in turn, in order. A labeler that can prepare the next batch while it
        labels this one overrides it (the composite with ``rule_workers``); it may read one batch ahead."""
        for texts in batches:
            yield self.label(texts)
