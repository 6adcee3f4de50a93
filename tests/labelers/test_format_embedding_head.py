"""The format's second opinion from the document embedding (labelers/format.py FormatEmbeddingHead): it decides
only among the formats it was fitted on, and never moves a document to or from a format without dev data."""

from __future__ import annotations

import numpy as np
import pytest

from condpt_dagster.core.vocab import STEERABLE_FORMATS
from condpt_dagster.labelers.format import FormatEmbeddingHead, best_format

NAMES = list(STEERABLE_FORMATS)
KNOWN = ("fiction", "news", "review")


def _head(beta: float = 1.0, dim: int = 8, seed: int = 0) -> FormatEmbeddingHead:
    rng = np.random.default_rng(seed)
    spec = {"formats": list(KNOWN), "coef": rng.normal(0, 3, (len(KNOWN), dim)).tolist(), "intercept": [0.0] * 3}
    return FormatEmbeddingHead.from_spec({**spec, "beta": beta})


def test_the_head_decides_among_its_formats_only_where_the_scores_chose_one():
    rng = np.random.default_rng(1)
    scores, vectors = rng.normal(0, 1, (300, len(NAMES))), rng.normal(0, 1, (300, 8))
    before = scores.argmax(1)
    after = _head().rerank(NAMES, scores, vectors).argmax(1)
    known = np.isin(before, [NAMES.index(f) for f in KNOWN])
    assert (~known).any() and (after[~known] == before[~known]).all()  # opinion stays opinion, academic academic
    assert np.isin(after[known], [NAMES.index(f) for f in KNOWN]).all()  # never from news to opinion
    assert (after[known] != before[known]).any()  # among its formats, it changes some choices


def test_without_weight_the_head_changes_nothing():
    rng = np.random.default_rng(2)
    scores, vectors = rng.normal(0, 1, (100, len(NAMES))), rng.normal(0, 1, (100, 8))
    assert (_head(beta=0.0).rerank(NAMES, scores, vectors).argmax(1) == scores.argmax(1)).all()


@pytest.mark.parametrize("choice", ["news", "opinion"])
def test_best_format_takes_the_second_opinion_only_given_an_embedding(monkeypatch, choice):
    """A document the prototypes call news by a hair and the head calls a review is a review; one they call
    opinion stays opinion, however sure the head is."""
    names, sims = NAMES, np.zeros(len(NAMES))
    sims[names.index(choice)], sims[names.index("review")] = 0.50, 0.49
    vector = np.zeros(8)
    head = FormatEmbeddingHead(KNOWN, np.zeros((3, 8)), np.array([0.0, 0.0, 50.0]), beta=1.0)  # review by 50
    monkeypatch.setattr(FormatEmbeddingHead, "load", classmethod(lambda cls, path=None: head))
    assert best_format(sims, names, {}, None)[0] == choice
    expected = "review" if choice in KNOWN else choice
    assert best_format(sims, names, {}, vector)[0] == expected
