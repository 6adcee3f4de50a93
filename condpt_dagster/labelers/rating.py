"""A continuous content-rating score and the rating it implies, on top of the lexicon rules.

``scores.rating`` in [0, 1] is a logistic model over (a) alt-profanity-check's probability (a maintained
linear SVM on ~200k human-labelled offensive / clean comments; its logit is the feature) and (b) the
lexicon tier counts of rating_rules.toml, including the ``sexual`` and ``drugs`` cues that carry no swear
word, per 50 words so that long documents are not rated on their length. Coefficients and the score
thresholds for PG / PG-13 / R live in ``data/label_heads.json`` (fitted by tools/train_label_heads.py on
the dev tune split; thresholds chosen so that clean text stays G). The final rating is the higher of the
lexicon rating (rules.rate) and the score's rating, so an explicit document is never rated down.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from condpt_dagster.core.vocab import RATINGS
from condpt_dagster.labelers.sentiment import LABEL_HEADS

RATING_TIERS = ("strong", "explicit", "suggestive", "sexual", "profanity", "mild", "drugs", "violence")
FEATURES = ("profanity_check_logit", *RATING_TIERS)


def profanity_probabilities(texts: Sequence[str]) -> np.ndarray:
    """alt-profanity-check's probability that each text is offensive (one vectorized call per batch)."""
    from profanity_check import predict_prob

    if not texts:
        return np.zeros(0)
    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def tier_rates(hits: dict[str, int], words: int) -> list[float]:
    """log1p of each tier's hits per 50 words: long documents are not rated on their length."""
    per_50_words = 50 / max(words, 50)
    return [float(np.log1p(hits.get(t, 0) * per_50_words)) for t in RATING_TIERS]


def rating_features(probability: float, hits: dict[str, int], words: int) -> np.ndarray:
    p = min(max(probability, 1e-4), 1 - 1e-4)
    return np.array([np.log(p / (1 - p)), *tier_rates(hits, words)])


@dataclass(frozen=True)
class RatingHead:
    """``rating``: the score from FEATURES alone (any labeler); ``rating_encoder``: FEATURES plus the logit of
    a logistic head on the encoder's document embedding (``encoder_coef``), for the composite labeler, which
    has that embedding: it reads innuendo that no word list holds."""

    coef: np.ndarray
    intercept: float
    thresholds: dict[str, float]  # lowest score of PG, PG-13 and R
    encoder_coef: np.ndarray | None = None
    encoder_intercept: float = 0.0

    @classmethod
    @cache
    def load(cls, name: str = "rating", path: Path = LABEL_HEADS) -> RatingHead:
        spec = json.loads(path.read_text(encoding="utf-8"))[name]
        features = tuple(spec["features"])
        if features[: len(FEATURES)] != FEATURES:
            raise ValueError(f"{path}: {name} features {spec['features']} != {FEATURES}; retrain the heads")
        encoder = spec.get("encoder")
        return cls(
            np.asarray(spec["coef"]),
            float(spec["intercept"]),
            dict(spec["thresholds"]),
            np.asarray(encoder["coef"], dtype=np.float32) if encoder else None,
            float(encoder["intercept"]) if encoder else 0.0,
        )

    def encoder_logit(self, doc_vec: np.ndarray) -> float:
        assert self.encoder_coef is not None, "this rating head reads no encoder embedding"
        return float(doc_vec @ self.encoder_coef + self.encoder_intercept)

    def score(self, features: np.ndarray) -> float:
        return float(1 / (1 + np.exp(-(features @ self.coef + self.intercept))))

    def rating(self, score: float, lexicon_rating: str) -> str:
        return rating_from_score(score, self.thresholds, lexicon_rating)


def rating_from_score(score: float, thresholds: dict[str, float], lexicon_rating: str) -> str:
    """The rating the score reaches (``thresholds``: lowest score of PG, PG-13, R), never below the lexicon's."""
    by_score = "G"
    for name in ("PG", "PG-13", "R"):
        if score >= thresholds[name]:
            by_score = name
    return max(by_score, lexicon_rating, key=RATINGS.index)
