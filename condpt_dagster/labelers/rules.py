"""Rule and lexicon taggers: language, length bucket, readability grade, content rating and SFW.

No model, no network: py3langid for language, pyphen syllables for the Flesch-Kincaid grade, and
better-profanity's maintained word list sharpened by the tiers and thresholds in ``rating_rules.toml``
(documented there). Fast enough to run on every document (see bench/label.py).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyphen
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from condpt_dagster.core.vocab import LENGTH_LIMITS, UNDETERMINED_LANGUAGE
from condpt_dagster.labelers.pyregex import PYTHON_SPACE, SPACE, with_python_words

if TYPE_CHECKING:
    import polars as pl

DATA = Path(__file__).resolve().parents[1] / "data"
RATING_RULES = DATA / "rating_rules.toml"
# Bumped when the rule labels of a text change (language, length, readability, the lexicon rating): every
# labeler's version includes it (base.Labeler.version). 2: an abbreviation's period ends no sentence (readability),
# and the readability sample ends at its 200th word (it ended where that word's text first occurred: "the" in "then").
REVISION = "2"
LANGUAGE_SAMPLE_CHARS = 1000
READABILITY_SAMPLE_WORDS = 200
# The text up to the end of its READABILITY_SAMPLE_WORDS-th word (the same in Python's re and the regex crate).
_READABILITY_SAMPLE = rf"^[^A-Za-z]*[A-Za-z]+(?:[^A-Za-z]+[A-Za-z]+){{{READABILITY_SAMPLE_WORDS - 1}}}"

_WORD = re.compile(r"[a-z0-9']+")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# A period after these (a word of its own: no ASCII letter before it) ends no sentence: titles before a name
# ("Mr. Darcy", "my hon. Friend", "Dr. Who"), Latin abbreviations and initials ("J. R. R.", "U.S."). Splitting
# there made "My hon." a document's synopsis. A sentence that does end in one ("... Plan B. Then", "at 240 V. For")
# joins the next: on the dev test split that is rarer than an initial (119 "U.S."-like, 78 "George W. Bush" against
# 5 after a number).
ABBREVIATIONS = (
    *("Mr", "Mrs", "Ms", "Messrs", "Mme", "Mlle", "Dr", "Drs", "Prof", "Rev", "Revd", "Hon", "hon", "Rt"),
    *("St", "Sr", "Jr", "Gen", "Col", "Lt", "Capt", "Cmdr", "Sgt", "Cpl", "Maj", "Adm", "Gov", "Sen", "Rep"),
    *("Supt", "Insp", "Fr", "Mt", "vs", "cf", "viz", "e.g", "i.e"),
)
_INITIAL = "[A-HJ-Z]"  # not I: "said I." ends a narrator's sentence far more often than I. opens a name
# Where no look-behind can say it (the regex crate; counting sentence ends), an abbreviation's period becomes
# _KEPT_PERIOD. Each match takes the character before the abbreviation, so the second of two adjacent ones ("U.S.")
# waits for a second pass. The same pattern means the same in Python's re and in the regex crate.
_ABBREVIATION_BATCH = rf"(^|[^A-Za-z])({'|'.join([_INITIAL, *map(re.escape, ABBREVIATIONS)])})\."
_ABBREVIATION = re.compile(_ABBREVIATION_BATCH)
_KEPT_PERIOD = "\x01"


def _kept_periods_of(text: str) -> str:
    """``text`` with every abbreviation's period as _KEPT_PERIOD, as :func:`kept_periods` marks a batch."""
    for _ in range(2):
        text = _ABBREVIATION.sub(rf"\g<1>\g<2>{_KEPT_PERIOD}", text)
    return text


def _sentence_split() -> re.Pattern[str]:
    """Breaks after . ! ? (and closing quotes) or at line ends, but never after an abbreviation's period on a
    line: Python's look-behinds need one width each, so one per abbreviation length."""
    by_length: dict[int, list[str]] = {1: [_INITIAL]}
    for word in ABBREVIATIONS:
        by_length.setdefault(len(word), []).append(re.escape(word))
    kept = "".join(rf"(?<!(?<![A-Za-z])(?:{'|'.join(words)})\.)" for words in by_length.values())
    return re.compile(rf"(?<=[.!?]){kept}[\"')\]]*\s+|\n+")


_SENTENCE_SPLIT = _sentence_split()


class _TermSet:
    """Exact words, two-word phrases and prefixes (``term*``), matched on lowercased text."""

    def __init__(self, terms: list[str]) -> None:
        self.words = frozenset(t for t in terms if not t.endswith("*") and " " not in t)
        self.prefixes = tuple(t[:-1] for t in terms if t.endswith("*"))
        phrases = [re.escape(t) for t in terms if " " in t]
        self.phrase_pattern = re.compile(r"\b(?:" + "|".join(phrases) + r")\b") if phrases else None

    def matches(self, word: str) -> bool:
        return word in self.words or (bool(self.prefixes) and word.startswith(self.prefixes))


class RatingRules:
    """Lexicon tiers and thresholds from ``rating_rules.toml``; word -> tiers lookups are memoized."""

    def __init__(self, thresholds: dict[str, float], tiers: dict[str, _TermSet]) -> None:
        self.thresholds = thresholds
        self.tiers = tiers
        self._tiers_of: dict[str, tuple[str, ...]] = {}

    @classmethod
    @cache
    def load(cls, path: Path = RATING_RULES) -> RatingRules:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        allow = set(raw["profanity_allowlist"]["words"])
        tiers = {name: _TermSet(terms) for name, terms in raw["tiers"].items()}
        # `profanity` holds what the hand-kept tiers do not already grade, so "damn" counts as mild only.
        tiered = list(tiers.values())
        tiers["profanity"] = _TermSet(
            [w for w in _profanity_wordlist() if w not in allow and not any(t.matches(w) for t in tiered)]
        )
        return cls(thresholds=raw["thresholds"], tiers=tiers)

    def tiers_of(self, word: str) -> tuple[str, ...]:
        found = self._tiers_of.get(word)
        if found is None:
            found = self._tiers_of[word] = tuple(name for name, terms in self.tiers.items() if terms.matches(word))
        return found

    def count(self, tokens: list[str], text_lower: str | None) -> dict[str, int]:
        """Hits per tier: words and prefixes among ``tokens``, phrases in ``text_lower`` (None: no phrases)."""
        hits = dict.fromkeys(self.tiers, 0)
        for word, n in Counter(tokens).items():
            for tier in self.tiers_of(word):
                hits[tier] += n
        if text_lower is None:
            return hits
        for name, terms in self.tiers.items():
            if terms.phrase_pattern is not None:
                hits[name] += len(terms.phrase_pattern.findall(text_lower))
        return hits


@cache
def _profanity_wordlist() -> list[str]:
    import better_profanity

    path = Path(better_profanity.__file__).parent / "profanity_wordlist.txt"
    return [w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]


@dataclass(frozen=True)
class RuleLabels:
    language: str
    language_score: float
    length: str
    words: int
    readability: float  # Flesch-Kincaid grade of the opening words
    rating: str
    sfw: bool
    hits: dict[str, int]  # lexicon hits per tier, the evidence behind the rating


def strip_markup(text: str) -> str:
    """Remove leftover HTML/XML tags (ingestion normalizes common ones; labelers may see raw text)."""
    return _TAG.sub(" ", text) if "<" in text else text


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) that hold a letter, stripped: what the encoder labelers embed one by one."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and _HAS_LETTER.search(s)]


def language_of(text: str, sample_chars: int = LANGUAGE_SAMPLE_CHARS) -> tuple[str, float]:
    """ISO 639-1 code and confidence from the opening ``sample_chars``; ``und`` for text without letters."""
    sample = strip_markup(text[:sample_chars])
    if not _HAS_LETTER.search(sample):
        return UNDETERMINED_LANGUAGE, 0.0
    lang, prob = _language_identifier().classify(sample)
    return lang, round(float(prob), 4)


def length_bucket(words: int) -> str:
    return next((name for limit, name in LENGTH_LIMITS if words < limit), "very long")


@cache
def _language_identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@cache
def _hyphenator() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


@lru_cache(maxsize=200_000)
def syllables(word: str) -> int:
    return len(_hyphenator().positions(word)) + 1


def readability_grade(text: str) -> float:
    """Flesch-Kincaid grade level (0.39 w/s + 11.8 syl/w - 15.59) of the first few hundred words (an
    abbreviation's period ends no sentence)."""
    words = re.findall(r"[A-Za-z]+", text)[:READABILITY_SAMPLE_WORDS]
    if not words:
        return 0.0
    sample = re.match(_READABILITY_SAMPLE, text)
    sentences = max(1, len(_SENTENCE_END.findall(_kept_periods_of(sample.group() if sample else text))))
    total = sum(syllables(w.lower()) for w in words)
    grade = 0.39 * len(words) / sentences + 11.8 * total / len(words) - 15.59
    return round(min(max(grade, 0.0), 20.0), 1)


def rate(
    text_lower: str | None, tokens: list[str], rules: RatingRules | None = None
) -> tuple[str, bool, dict[str, int]]:
    """Content rating, SFW flag and per-tier hit counts for lowercased text (None: no phrases) and its words."""
    rules = rules or RatingRules.load()
    hits = rules.count(tokens, text_lower)
    rating, sfw = rating_of_hits(hits, len(tokens), rules)
    return rating, sfw, hits


def rating_of_hits(hits: dict[str, int], n_tokens: int, rules: RatingRules | None = None) -> tuple[str, bool]:
    """The rating and SFW flag that per-tier hit counts in ``n_tokens`` words call for."""
    t = (rules or RatingRules.load()).thresholds
    violence_density = 1000 * hits["violence"] / max(n_tokens, 100)  # short texts: no density spikes
    graphic_violence = hits["violence"] >= t["r_violence_min"] and violence_density >= t["r_violence_density"]
    if hits["explicit"] >= t["r_explicit_min"] or hits["strong"] >= t["r_strong_min"] or graphic_violence:
        rating = "R"
    elif (
        hits["explicit"]
        or hits["strong"]
        or hits["suggestive"] >= t["pg13_suggestive_min"]
        or hits["profanity"] >= t["pg13_profanity_min"]
        or violence_density >= t["pg13_violence_density"]
    ):
        rating = "PG-13"
    elif hits["profanity"] or hits["mild"] or hits["suggestive"] or hits["violence"]:
        rating = "PG"
    else:
        rating = "G"
    return rating, rating != "R" and hits["explicit"] == 0


def rule_labels(
    text: str,
    rules: RatingRules | None = None,
    phrases: bool = True,
    language_chars: int = LANGUAGE_SAMPLE_CHARS,
) -> RuleLabels:
    """Every rule label of a text. ``phrases=False`` counts the rating lexicon's single words and prefixes
    only, and ``language_chars`` bounds what language identification reads: the student's cheaper rules."""
    lower = strip_markup(text).lower()
    tokens = _WORD.findall(lower)
    language, score = language_of(text, language_chars)
    rating, sfw, hits = rate(lower if phrases else None, tokens, rules)
    return RuleLabels(
        language=language,
        language_score=score,
        length=length_bucket(len(tokens)),
        words=len(tokens),
        readability=readability_grade(text),
        rating=rating,
        sfw=sfw,
        hits=hits,
    )


_SENTENCE_END_BATCH = rf"[.!?]+(?:{SPACE}|$)"


class RuleTables:
    """What :func:`rule_labels_batch` keeps of the words it has met (:class:`WordTable`): each lowercased
    word's syllables and each lexicon word's rating tiers (a bit per tier). A long-running labeler passes
    the same tables batch after batch."""

    def __init__(
        self, rules: RatingRules | None = None, max_words: int = 200_000, base: dict[str, pl.DataFrame] | None = None
    ) -> None:
        import polars as pl

        from condpt_dagster.labelers.word_table import WordTable

        self.rules = rules or RatingRules.load()
        self.tier_names = list(self.rules.tiers)
        base = base or {}
        syllables, tiers = {"word": pl.String, "syllables": pl.Int64}, {"word": pl.String, "tiers": pl.Int64}
        self.syllables = WordTable(syllables, self._syllable_counts, max_words, base=base.get("syllables"))
        self.tiers = WordTable(tiers, self._tier_masks, max_words, base=base.get("tiers"))

    def export(self) -> dict[str, pl.DataFrame]:
        """Every word met so far and its values, as ``base`` takes them (the tiers are the default rules')."""
        return {"syllables": self.syllables.table, "tiers": self.tiers.table}

    @staticmethod
    def _syllable_counts(words: list[str]) -> dict[str, list]:
        return {"syllables": [syllables(w) for w in words]}

    def _tier_masks(self, words: list[str]) -> dict[str, list]:
        bits = {name: 1 << i for i, name in enumerate(self.tier_names)}
        return {"tiers": [sum(bits[t] for t in self.rules.tiers_of(w)) for w in words]}


def rule_labels_batch(
    texts: Sequence[str],
    rules: RatingRules | None = None,
    language_chars: int = LANGUAGE_SAMPLE_CHARS,
    tables: RuleTables | None = None,
) -> list[RuleLabels]:
    """:func:`rule_labels` with ``phrases=False`` for a batch, label for label: words, lexicon hits and the
    readability sample are cut out of the whole batch at once in polars, lexicon tiers and syllables are
    looked up in ``tables`` (computed once per distinct word), and language identification walks every
    sample at once (labelers/language.py). What the student labeler runs (tests/labelers/test_rules_batch.py)."""
    import polars as pl

    from condpt_dagster.labelers.language import languages_of

    rules = rules or RatingRules.load()
    if tables is None or tables.rules is not rules:
        tables = RuleTables(rules)
    stripped = [strip_markup(t) for t in texts]
    lowered = pl.Series("lower", [t.lower() for t in stripped], dtype=pl.String)
    tokens = pl.DataFrame({"row": np.arange(len(texts)), "word": lowered.str.extract_all(_WORD.pattern)})
    hits = _tier_hits(tokens, tables, len(texts))
    counts = tokens["word"].list.len().to_list()
    grades = _readability_batch(pl.Series("text", list(texts), dtype=pl.String), tables)  # the text as given
    samples = [strip_markup(t[:language_chars]) for t in texts]
    languages = languages_of(samples, [bool(_HAS_LETTER.search(s)) for s in samples])
    out = []
    for n, doc_hits, grade, (language, score) in zip(counts, hits, grades, languages, strict=True):
        rating, sfw = rating_of_hits(doc_hits, n, rules)
        out.append(RuleLabels(language, score, length_bucket(n), n, grade, rating, sfw, doc_hits))
    return out


def _tier_hits(tokens: pl.DataFrame, tables: RuleTables, n: int) -> list[dict[str, int]]:
    """Lexicon hits per tier per row of ``tokens`` (row, word list): only words in some tier are counted."""
    import polars as pl

    words = tables.tiers.lookup(tokens.explode("word").drop_nulls("word"))
    hits = [dict.fromkeys(tables.tier_names, 0) for _ in range(n)]
    found = words.filter(pl.col("tiers") != 0).group_by("row", "tiers").len()
    for row, mask, count in found.iter_rows():
        for bit, tier in enumerate(tables.tier_names):
            if mask >> bit & 1:
                hits[row][tier] += count
    return hits


def _readability_batch(texts: pl.Series, tables: RuleTables) -> list[float]:
    """:func:`readability_grade` of every text."""
    import polars as pl

    sample = texts.str.extract_all("[A-Za-z]+").list.head(READABILITY_SAMPLE_WORDS)
    counts = sample.list.len().to_numpy()
    words = sample.explode().drop_nulls().str.to_lowercase()  # in text order, empty samples leave nothing
    per_word = tables.syllables.lookup(pl.DataFrame({"word": words}))["syllables"]
    syllables = np.bincount(np.repeat(np.arange(len(counts)), counts), per_word.to_numpy(), minlength=len(counts))
    prefixes = texts.str.extract(f"({_READABILITY_SAMPLE})").fill_null(texts)
    sentences = kept_periods(prefixes).str.count_matches(_SENTENCE_END_BATCH).to_list()
    grades = []
    for n, syllable_count, ends in zip(counts.tolist(), syllables.tolist(), sentences, strict=True):
        if n == 0:
            grades.append(0.0)
            continue
        grade = 0.39 * n / max(1, ends) + 11.8 * int(syllable_count) / n - 15.59
        grades.append(round(min(max(grade, 0.0), 20.0), 1))
    return grades


# split_sentences for a batch: the regex crate has no look-behind, so the punctuation before a break is matched
# and put back, and the break becomes a NUL marker to split on (texts holding a NUL or a _KEPT_PERIOD are split
# in Python).
_BREAK_BATCH = rf"([.!?])[\"')\]]*{SPACE}+|\n+"


def kept_periods(series: pl.Series) -> pl.Series:
    """The texts with every abbreviation's period as _KEPT_PERIOD (see ABBREVIATIONS)."""
    for _ in range(2):
        series = series.str.replace_all(_ABBREVIATION_BATCH, f"${{1}}${{2}}{_KEPT_PERIOD}")
    return series


def split_sentences_batch(texts: Sequence[str]) -> list[list[str]]:
    """:func:`split_sentences` of every text, cut at once in polars."""
    import polars as pl

    series = pl.Series("text", list(texts), dtype=pl.String)
    marked = kept_periods(series).str.replace_all(_BREAK_BATCH, "${1}\x00")
    pieces = marked.str.replace_all(_KEPT_PERIOD, ".", literal=True).str.split("\x00")
    flat = pieces.explode()  # every text has at least one piece
    rows = np.repeat(np.arange(len(texts)), pieces.list.len().to_numpy())
    frame = pl.DataFrame({"row": rows, "piece": flat.str.strip_chars(PYTHON_SPACE)})
    kept = frame.filter(with_python_words(flat).str.contains(r"[^\W\d_]"))  # holds a letter, as Python reads it
    sentences: list[list[str]] = [[] for _ in texts]
    for row, row_pieces in kept.group_by("row", maintain_order=True).agg("piece").iter_rows():
        sentences[row] = row_pieces
    in_python = series.str.contains("\x00", literal=True) | series.str.contains(_KEPT_PERIOD, literal=True)
    for i in in_python.arg_true().to_list():
        sentences[i] = split_sentences(texts[i])
    return sentences
