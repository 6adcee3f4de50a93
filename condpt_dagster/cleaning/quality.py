"""Quality filters: datatrove's implementations of the published heuristics (Gopher quality and repetition,
FineWeb, C4), with the thresholds of ``[clean]``.

datatrove splits words with spaCy by default; here words are whitespace-separated tokens, which is how the
Gopher paper counts them (a word with trailing punctuation still "contains an alphabetic character") and
needs no model download. Sentences (C4 only) end at ``.``, ``!`` or ``?`` followed by whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.utils.word_tokenizers import WordTokenizer

from condpt_dagster.cleaning.gopher_screen import GopherScreen
from condpt_dagster.core.settings import CleanSettings

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class WhitespaceWords(WordTokenizer):
    """Words split on whitespace; one instance per process (datatrove caches tokenizers by identity)."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in _SENTENCE_END.split(text) if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for sentence in self.sent_tokenize(text):
            start = text.index(sentence, start)
            spans.append((start, start + len(sentence)))
            start += len(sentence)
        return spans


WORDS = WhitespaceWords()


class QualityFilters:
    """The enabled filters, in order; the first that rejects a document names the reason."""

    # Screen batches: large enough to amortize the vectorized passes, small enough that its arrays (about
    # 32 bytes per character at peak) stay far below ingestion's memory.
    BATCH_DOCS = 1024
    BATCH_CHARS = 2_000_000

    def __init__(self, options: CleanSettings) -> None:
        configured: list[tuple[str, type[BaseFilter], object]] = [
            ("gopher_quality", GopherQualityFilter, options.gopher_quality),
            ("gopher_repetition", GopherRepetitionFilter, options.gopher_repetition),
            ("fineweb_quality", FineWebQualityFilter, options.fineweb_quality),
            ("c4_quality", C4QualityFilter, options.c4_quality),
        ]
        self.filters = [
            (name, cls(**opts.filter_kwargs(), language=WORDS), getattr(opts, "min_words", 0))
            for name, cls, opts in configured
            if opts.enabled
        ]
        # The screen sees the text before any line-removing filter; only Gopher filters run before C4.
        self.screen = GopherScreen(
            options.gopher_quality if options.gopher_quality.enabled else None,
            options.gopher_repetition if options.gopher_repetition.enabled else None,
        )

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.filters]

    def check_many(self, texts: list[str]) -> list[tuple[str | None, str]]:
        """``check`` for each text; the Gopher filters run only where the vectorized screen cannot clear the
        text (``gopher_screen``), with the same verdicts."""
        verdicts: list[tuple[str | None, str]] = []
        for batch in self._batches(texts):
            quality, repetition = self.screen.passes(batch)
            for text, q, r in zip(batch, quality, repetition, strict=True):
                cleared = {name for name, passed in (("gopher_quality", q), ("gopher_repetition", r)) if passed}
                verdicts.append(self.check(text, cleared))
        return verdicts

    def _batches(self, texts: list[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        chars = 0
        for text in texts:
            if batch and (len(batch) == self.BATCH_DOCS or chars + len(text) > self.BATCH_CHARS):
                yield batch
                batch, chars = [], 0
            batch.append(text)
            chars += len(text)
        if batch:
            yield batch

    def check(self, text: str, cleared: set[str] = frozenset()) -> tuple[str | None, str]:
        """``(reason, text)``: reason is ``"<filter>:<rule>"`` for a rejected document, else None; the text
        comes back changed only by filters that remove lines (C4). ``cleared``: filters known to pass."""
        n_words = len(text.split())
        for name, step, min_words in self.filters:
            if n_words < min_words or name in cleared:
                continue
            doc = Document(text=text, id="")
            passed, rule = get_filter_result(step.filter(doc))
            if not passed:
                return f"{name}:{rule or 'rejected'}", text
            text = doc.text
        return None, text
