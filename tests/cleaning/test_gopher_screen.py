"""The vectorized Gopher screen never changes a verdict: what it clears, datatrove passes."""

from __future__ import annotations

import random
from collections import Counter
from itertools import islice

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter

from condpt_dagster.cleaning.gopher_screen import GopherScreen
from condpt_dagster.cleaning.quality import WORDS, QualityFilters
from condpt_dagster.core.settings import CleanSettings, IngestSettings
from condpt_dagster.sample_corpus import iter_news, iter_reviews
from condpt_dagster.stages.raw_documents import normalize_texts

VOCAB = ("the cat sat on a mat and dog of to with that have be • - ... … # ## 42 3.5 é naïve 東京 ab c a bc").split()  # noqa: SIM905
SPACES = [" ", " ", " ", "\n", "\n\n", "\t", "\xa0", "\u2028", "\x1c", "\r\n", "\n\n\n"]


def _random_text(rng: random.Random) -> str:
    """Text built to sit near the rules' thresholds: repeated phrases, lines and paragraphs, bullets,
    ellipses, hashes, unusual whitespace, and word boundaries that join to equal strings ("ab c" / "a bc")."""
    phrase = [rng.choice(VOCAB) for _ in range(rng.randint(1, 12))]
    repeat, symbols = rng.uniform(0, 0.3), rng.uniform(0, 0.08)
    parts: list[str] = []
    for _ in range(rng.randint(1, 200)):
        roll = rng.random()
        if roll < repeat:
            parts += phrase
        elif roll < repeat + symbols:
            parts.append(rng.choice(["• item", "- point", "end...", "#tag", "ab c a bc", "...", "#"]))
        elif rng.random() < 0.3:
            parts.append(rng.choice(VOCAB))
        else:
            parts.append("".join(rng.choices("abcdefghij", k=rng.randint(2, 9))))
    text = "".join(part + rng.choice(SPACES) for part in parts)
    return rng.choice(["", "\n", "  "]) + text + rng.choice(["", "\n", "\n\n"])


def _options(rng: random.Random) -> CleanSettings:
    """Default thresholds, or tighter ones so that more texts fall on both sides of each rule."""
    if rng.random() < 0.5:
        return CleanSettings()
    return CleanSettings.model_validate(
        {
            "gopher_quality": {"min_doc_words": rng.choice([1, 5, 50]), "min_stop_words": rng.choice([0, 1, 2])},
            "gopher_repetition": {
                "min_words": 0,
                "dup_line_frac": rng.choice([0.1, 0.3]),
                "top_n_grams": [[2, rng.choice([0.05, 0.2])], [3, 0.1], [4, 0.08]],
                "dup_n_grams": [[5, rng.choice([0.0, 0.05, 0.15])], [7, 0.05], [10, 0.02]],
            },
        }
    )


def test_batch_verdicts_equal_datatrove_on_adversarial_texts():
    rng = random.Random(7)
    compared, reasons = 0, Counter()
    for _ in range(12):
        filters = QualityFilters(_options(rng))
        # ingestion rejects blank texts (and datatrove's quality filter divides by the word count)
        texts = [t for t in (_random_text(rng) for _ in range(150)) if t.split()] + ["#", "word", "a\n\na"]
        expected = [filters.check(text) for text in texts]
        assert filters.check_many(texts) == expected
        compared += len(texts)
        reasons.update(reason for reason, _ in expected)
    assert 0.1 * compared < reasons[None] < 0.8 * compared  # both verdicts well represented
    assert len(reasons) >= 12  # and most rules


def test_quality_statistics_are_exact_not_bounds():
    """The quality half of the screen computes datatrove's statistics exactly: it clears every text that
    datatrove passes (apart from empty ones, left to datatrove) and no other."""
    rng = random.Random(3)
    options = CleanSettings.model_validate({"gopher_quality": {"min_doc_words": 5, "min_stop_words": 1}})
    step = GopherQualityFilter(**options.gopher_quality.filter_kwargs(), language=WORDS)
    texts = [t for t in (_random_text(rng) for _ in range(600)) if t.split()]
    cleared, _ = GopherScreen(options.gopher_quality, None).passes(texts)
    passed = [step.filter(Document(text=t, id="")) is True for t in texts]
    assert cleared.tolist() == passed
    assert 0.2 < sum(passed) / len(passed) < 0.9


PROSE = (
    "the harbour town woke slowly with fishing boats drifting past the old lighthouse while gulls argued over "
    "scraps and that baker on the corner began to have his ovens roaring before dawn broke over grey water"
)
OTHER = "a second paragraph of the story tells how the keeper of the light came to live with his sister there"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (f"{PROSE} {PROSE}", "duplicated_5_n_grams"),
        (f"{PROSE}\n\n{OTHER}\n\n{OTHER}\n\n{OTHER}", "dup_para_frac"),
        (
            "\n".join([PROSE, OTHER, "the end of it", "the end of it", "the end of it", "and that is all"]),
            "dup_line_frac",
        ),
    ],
)
def test_repetitive_texts_are_not_cleared(text, rule):
    options = CleanSettings()
    _, cleared = GopherScreen(None, options.gopher_repetition).passes([text])
    assert not cleared[0]
    assert QualityFilters(options).check_many([text])[0][0].endswith(rule)


@pytest.fixture(scope="module")
def sample_prose(sample_wheels) -> list[str]:
    """IMDB reviews and news articles of the sample corpus, as ingestion leaves them."""
    raw = [d["text"] for d in islice(iter_reviews(sample_wheels), 400)]
    raw += [d["text"] for d in islice(iter_news(sample_wheels), 400)]
    return [t for t in normalize_texts(raw, IngestSettings()) if len(t.split()) >= 50]


def test_ordinary_prose_is_cleared_without_datatrove(sample_prose):
    """The screen is worth running: it clears nearly every text that passes, so datatrove runs on few."""
    options = CleanSettings()
    quality, repetition = GopherScreen(options.gopher_quality, options.gopher_repetition).passes(sample_prose)
    filters = QualityFilters(options)
    passing = [i for i, text in enumerate(sample_prose) if filters.check(text)[0] is None]
    assert len(passing) > 0.9 * len(sample_prose)
    assert sum(quality[i] and repetition[i] for i in passing) >= 0.95 * len(passing)
