"""A vectorized screen in front of datatrove's Gopher filters: which documents of a batch certainly pass.

datatrove's Gopher quality and repetition filters are pure Python per word and per n-gram (about 2,300 and
700 documents/s on one core for 400-word documents). The screen computes the same per-document statistics
for a whole batch at once (polars and numpy over the flattened words) and answers, per document, "passes
for sure". Only the documents it cannot clear go through datatrove's own filter, which then gives the
verdict and the rule; so datatrove stays the reference and the screen can only make the decision faster,
never different:

- Gopher quality statistics are computed exactly (word counts, mean length of non-symbol words, ``#`` and
  ellipsis ratios, bullet and ellipsis lines, alphabetic words, distinct stop words).
- Gopher repetition n-gram statistics are upper bounds. An n-gram is keyed by a polynomial hash of its
  characters (words joined without separator, the coarsest identity datatrove uses) and its length; the
  top n-gram share is bounded by ``max(count x length)``; the duplicated n-gram share (datatrove's greedy
  scan that skips past each repeat) by the total length of every non-first occurrence. A hash collision
  only merges keys, which raises both bounds: a collision sends a document to datatrove, never past it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.utils.text import PUNCTUATION_SET

from condpt_dagster.core.arrow_strings import arrow_strings, utf8_parts
from condpt_dagster.core.clean_settings import GopherQualitySettings, GopherRepetitionSettings

_NOT_PUNCTUATION = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(PUNCTUATION_SET)) + "]"
_LETTER = r"\p{L}"  # str.isalpha: general categories Lu, Ll, Lt, Lm, Lo
_PYTHON_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())  # what str.strip() strips
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2**64
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 2**64))
_DOC_MIX = np.uint64(0xD6E8FEB86659FD93)
_LENGTH_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass
class _Words:
    """A batch's words flattened: which document each belongs to and where its characters start."""

    doc: np.ndarray  # int64 per word
    first: np.ndarray  # index of each document's first word
    count: np.ndarray  # words per document
    series: pl.Series
    length: np.ndarray  # characters per word
    chars: np.ndarray  # chars[i]: characters in words before word i (one entry more than words)
    start: np.ndarray  # byte offset of each word in the UTF-8 concatenation of all words
    prefix: np.ndarray  # prefix[k] = sum of byte[i] * BASE**i for i < k (mod 2**64)
    inverse_power: np.ndarray  # BASE**-i (mod 2**64)


def _flatten(texts: list[str]) -> _Words:
    split = [text.split() for text in texts]  # datatrove's words, as condpt's WhitespaceWords splits them
    count = np.fromiter((len(words) for words in split), dtype=np.int64, count=len(split))
    series = pl.Series([word for words in split for word in words], dtype=pl.String)
    # The Arrow buffer holds every word's UTF-8 bytes back to back: n-gram keys hash byte ranges of it.
    start, data = utf8_parts(arrow_strings(series))
    data = data.astype(np.uint64)
    with np.errstate(over="ignore"):
        power = np.full(len(data) + 1, _BASE, dtype=np.uint64)
        power[0] = 1
        np.cumprod(power, out=power)
        inverse = np.full(len(data) + 1, _BASE_INVERSE, dtype=np.uint64)
        inverse[0] = 1
        np.cumprod(inverse, out=inverse)
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum(data * power[:-1], out=prefix[1:])
    first = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(count[:-1], out=first[1:])
    length = series.str.len_chars().to_numpy().astype(np.int64)
    return _Words(
        doc=np.repeat(np.arange(len(texts), dtype=np.int64), count),
        first=first,
        count=count,
        series=series,
        length=length,
        chars=np.r_[0, np.cumsum(length)],
        start=start,
        prefix=prefix,
        inverse_power=inverse,
    )


def _per_doc(words: _Words, values: np.ndarray, n_docs: int) -> np.ndarray:
    return np.bincount(words.doc, weights=values, minlength=n_docs)


def _per_doc_reduce(ufunc: np.ufunc, doc: np.ndarray, values: np.ndarray, n_docs: int) -> np.ndarray:
    """``ufunc`` over each document's values (``doc`` sorted); 0 for a document without values."""
    out = np.zeros(n_docs, dtype=values.dtype)
    if len(doc):
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        out[doc[starts]] = ufunc.reduceat(values, starts)
    return out


def _occurrences(key: np.ndarray) -> np.ndarray:
    """How often each element's key occurs in ``key``."""
    return pl.DataFrame({"key": key}).select(pl.len().over("key")).to_series().to_numpy()


def _per_doc_max(doc: np.ndarray, values: np.ndarray, n_docs: int) -> np.ndarray:
    return _per_doc_reduce(np.maximum, doc, values, n_docs)


class GopherScreen:
    """``passes(texts)`` -> (certainly passes Gopher quality, certainly passes Gopher repetition) per text."""

    def __init__(self, quality: GopherQualitySettings | None, repetition: GopherRepetitionSettings | None) -> None:
        self.quality = quality
        self.repetition = repetition

    def passes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        if n == 0:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
        words = _flatten(texts)
        quality = self._quality(texts, words) if self.quality else np.zeros(n, dtype=bool)
        repetition = self._repetition(texts, words) if self.repetition else np.zeros(n, dtype=bool)
        return quality, repetition

    def _quality(self, texts: list[str], words: _Words) -> np.ndarray:
        o, n = self.quality, len(texts)
        non_symbol = words.series.str.contains(_NOT_PUNCTUATION).to_numpy()
        alpha = words.series.str.contains(_LETTER).to_numpy()
        n_words = words.count.astype(np.float64)
        n_non_symbol = _per_doc(words, non_symbol, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_length = _per_doc(words, words.length * non_symbol, n) / n_non_symbol
        ok = words.count > 0  # datatrove divides by the word count: leave empty documents to it
        if o.min_doc_words:
            ok &= n_non_symbol >= o.min_doc_words
        if o.max_doc_words:
            ok &= n_non_symbol <= o.max_doc_words
        if o.min_avg_word_length:
            ok &= ~(mean_length < o.min_avg_word_length)  # NaN compares False, as in datatrove
        if o.max_avg_word_length:
            ok &= ~(mean_length > o.max_avg_word_length)
        safe_words = np.maximum(n_words, 1)
        if o.max_symbol_word_ratio:
            text_series = pl.Series(texts, dtype=pl.String)
            hashes = text_series.str.count_matches("#", literal=True).to_numpy()
            ellipses = (
                text_series.str.count_matches("...", literal=True) + text_series.str.count_matches("…", literal=True)
            ).to_numpy()
            ok &= hashes / safe_words <= o.max_symbol_word_ratio
            ok &= ellipses / safe_words <= o.max_symbol_word_ratio
        if o.max_non_alpha_words_ratio:
            ok &= _per_doc(words, alpha, n) / safe_words >= o.max_non_alpha_words_ratio
        if o.min_stop_words:
            ok &= self._stop_words(words, n) >= o.min_stop_words
        if o.max_bullet_lines_ratio or o.max_ellipsis_lines_ratio:
            for i in np.flatnonzero(ok):
                ok[i] = self._lines_pass(texts[i])
        return ok

    @staticmethod
    def _stop_words(words: _Words, n_docs: int) -> np.ndarray:
        """Distinct stop words per document (a bit per stop word, OR-ed per document)."""
        index = words.series.replace_strict(STOP_WORDS, range(len(STOP_WORDS)), default=None, return_dtype=pl.Int8)
        bits = np.where(index.is_null().to_numpy(), 0, 1 << index.fill_null(0).to_numpy().astype(np.int64))
        mask = _per_doc_reduce(np.bitwise_or, words.doc, bits, n_docs)
        return np.array([int(m).bit_count() for m in mask])

    def _lines_pass(self, text: str) -> bool:
        o = self.quality
        lines = text.splitlines()
        if not lines:
            return False
        if o.max_bullet_lines_ratio:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
            if bullets / len(lines) > o.max_bullet_lines_ratio:
                return False
        if o.max_ellipsis_lines_ratio:
            ellipsis = sum(s.rstrip().endswith(("...", "…")) for s in lines)
            if ellipsis / len(lines) > o.max_ellipsis_lines_ratio:
                return False
        return True

    def _repetition(self, texts: list[str], words: _Words) -> np.ndarray:
        o, n = self.repetition, len(texts)
        text_length = np.fromiter((len(t) for t in texts), dtype=np.float64, count=n)
        ok = text_length > 0
        per_char = 1 / np.maximum(text_length, 1)
        position = np.arange(len(words.doc)) - words.first[words.doc]  # word index within its document
        # An n-gram occurs at most as often as each of its words, so count x length (with spaces) of any
        # n-gram is at most n x max over words of count x (length + 1): exact counts only where that fails.
        word_key, _ = self._keys(words, np.arange(len(words.doc)), 1)
        word_top = _per_doc_max(words.doc, _occurrences(word_key) * (words.length + 1), n)
        for size, fraction in o.top_n_grams:
            unsure = ok & (size * word_top * per_char > fraction)
            if not unsure.any():
                continue
            starts = np.flatnonzero(unsure[words.doc] & (position <= words.count[words.doc] - size))
            key, length = self._keys(words, starts, size)
            top = _per_doc_max(words.doc[starts], _occurrences(key) * (length + size - 1), n)
            ok &= ~(top * per_char > fraction)
        for size, fraction in o.dup_n_grams:
            starts = np.flatnonzero(ok[words.doc] & (position <= words.count[words.doc] - size))
            key, _ = self._keys(words, starts, size)
            # datatrove's scan counts disjoint repeats, so their characters all lie in the words covered by
            # some non-first occurrence: that covered length bounds the count.
            repeat_start = np.zeros(len(words.doc) + size, dtype=np.int64)
            repeat_start[size + starts] = ~pl.Series(key).is_first_distinct().to_numpy()
            started = np.cumsum(repeat_start)
            covered = started[size:] > started[:-size]
            ok &= ~(_per_doc(words, words.length * covered, n) * per_char > fraction)
        return ok & self._lines_and_paragraphs(texts, np.maximum(text_length, 1))

    @staticmethod
    def _keys(words: _Words, starts: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys of the n-grams of ``size`` words at ``starts`` (a hash of their bytes joined without spaces,
        their byte length, their document) and their lengths in characters without spaces."""
        begin = words.start[starts]
        end = words.start[starts + size]
        with np.errstate(over="ignore"):
            digest = (words.prefix[end] - words.prefix[begin]) * words.inverse_power[begin]
            key = (
                digest + (end - begin).astype(np.uint64) * _LENGTH_MIX + words.doc[starts].astype(np.uint64) * _DOC_MIX
            )
        return key, words.chars[starts + size] - words.chars[starts]

    def _lines_and_paragraphs(self, texts: list[str], text_length: np.ndarray) -> np.ndarray:
        """The paragraph and line rules, exactly: pieces as datatrove splits them (``re.split(r"\\n{2,}",
        text.strip())`` and ``re.split("\\n+", text)``), duplicates as ``find_duplicates`` counts them."""
        o, n = self.repetition, len(texts)
        frame = pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_row_index("doc")
        stripped = pl.col("text").str.strip_chars(_PYTHON_WHITESPACE)
        paragraphs = frame.select(
            "doc",
            pl.when(stripped == "")
            .then(pl.lit([""], dtype=pl.List(pl.String)))  # re.split on "" gives [""]
            .otherwise(stripped.str.extract_all(r"[^\n]+(?:\n[^\n]+)*"))  # runs of 2+ newlines separate
            .alias("piece"),
        )
        # re.split("\n+") keeps the empty pieces before a leading and after a trailing newline only
        lines = frame.select("doc", pl.col("text").str.split("\n").alias("piece")).explode("piece")
        at = pl.int_range(pl.len()).over("doc")
        lines = lines.filter((pl.col("piece") != "") | (at == 0) | (at == pl.len().over("doc") - 1))
        ok = np.ones(n, dtype=bool)
        for pieces, count_fraction, char_fraction in (
            (paragraphs.explode("piece"), o.dup_para_frac, o.dup_para_char_frac),
            (lines, o.dup_line_frac, o.dup_line_char_frac),
        ):
            stats = (
                pieces.with_columns(repeat=~pl.struct("doc", "piece").is_first_distinct())
                .group_by("doc")
                .agg(
                    pieces=pl.len(),
                    repeats=pl.col("repeat").sum(),
                    chars=pl.col("piece").str.len_chars().filter(pl.col("repeat")).sum(),
                )
                .sort("doc")
            )
            doc = stats["doc"].to_numpy()
            if count_fraction:
                ok[doc] &= ~(stats["repeats"].to_numpy() / stats["pieces"].to_numpy() > count_fraction)
            if char_fraction:
                ok[doc] &= ~(stats["chars"].to_numpy() / text_length[doc] > char_fraction)
        return ok
