"""bench/corpora/devsets.py: the `snippets` dev source, one sentence pulled from each chosen IMDB review."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpora import devsets

PLOT = "The story follows a retired sailor who returns to his village after twenty years at sea."
VERDICT = "It is a dreadful, boring mess and easily the worst film I have seen this year."
SHORT = "Awful."


@pytest.fixture
def reviews(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [
        devsets.DevDoc("imdb-1", "imdb", f"{PLOT} {VERDICT} {SHORT}", "test", sentiment=-1.0, format="review"),
        devsets.DevDoc("imdb-2", "imdb", f"{SHORT} {SHORT}", "tune", sentiment=-1.0, format="review"),
        devsets.DevDoc("rt-3", "rt", VERDICT, "tune", sentiment=-1.0, format="review"),
    ]
    monkeypatch.setattr(devsets, "movie_reviews", lambda _cache: iter(docs))
    monkeypatch.setattr(devsets, "SNIPPET_SHARE", 1.0)


@pytest.mark.usefixtures("reviews")
def test_a_snippet_is_its_reviews_most_polar_sentence_in_its_split():
    snippets = list(devsets.review_snippets(Path("unused")))
    # imdb-2 has no sentence of 6-40 words; rt is never a source of snippets (it is what they stand in for)
    assert [(s.id, s.source, s.split, s.format) for s in snippets] == [("imdb-1-snippet", "snippets", "test", "review")]
    assert snippets[0].text == VERDICT
    assert snippets[0].sentiment is None  # the review's label is not the sentence's


def test_snippets_are_never_fitted_on():
    assert "snippets" in devsets.TEST_ONLY and "snippets" in devsets.SOURCES
