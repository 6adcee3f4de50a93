"""Continuous sentiment in [-1, 1]: the VADER lexicon combined with a linear head on the encoder embedding.

VADER (vaderSentiment, MIT) reads what an encoder misses in short social text: negation, intensifiers,
capitals, exclamation marks, emoji. The head (logistic regression on the all-MiniLM-L6-v2 document
embedding, trained on IMDB reviews of the dev tune split by tools/train_label_heads.py) reads what a
lexicon misses in long text: irony, plot summaries full of "negative" words, overall verdicts. Both are
turned into logits and mixed with the weights stored beside the head in ``data/label_heads.json``:

    scores.sentiment = tanh(w_vader * vader + w_head * head_logit + bias)

where ``vader`` is the mean compound score of the document's sentences (the whole text when it is one
sentence). bench/studies/label_quality.py shows the mix against each part alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

LABEL_HEADS = Path(__file__).resolve().parents[1] / "data" / "label_heads.json"


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_score(sentences: Sequence[str]) -> float:
    """Mean VADER compound over sentences (0.0 for none)."""
    if not sentences:
        return 0.0
    analyzer = _vader()
    return float(np.mean([analyzer.polarity_scores(s)["compound"] for s in sentences]))


@dataclass(frozen=True)
class SentimentHead:
    coef: np.ndarray  # (dim,) logistic-regression weights on the unit document embedding
    intercept: float
    w_vader: float
    w_head: float
    bias: float

    @classmethod
    @cache
    def load(cls, path: Path = LABEL_HEADS) -> SentimentHead:
        spec = json.loads(path.read_text(encoding="utf-8"))["sentiment"]
        return cls(
            coef=np.asarray(spec["coef"], dtype=np.float32),
            intercept=float(spec["intercept"]),
            w_vader=float(spec["w_vader"]),
            w_head=float(spec["w_head"]),
            bias=float(spec["bias"]),
        )

    def head_logit(self, doc_vecs: np.ndarray) -> np.ndarray:
        return doc_vecs @ self.coef + self.intercept

    def score(self, vader: float, doc_vec: np.ndarray) -> tuple[float, float]:
        """The mixed score and the head's own score (tanh of half its logit), both in [-1, 1]."""
        logit = float(self.head_logit(doc_vec[None])[0])
        return float(np.tanh(self.w_vader * vader + self.w_head * logit + self.bias)), float(np.tanh(logit / 2))
