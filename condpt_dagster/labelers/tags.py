"""Keyword tags: frequent 1-2-grams, lemmatized and merged, ranked by similarity to the document embedding
with maximal marginal relevance (KeyBERT's method).

Candidates are counted by lemma (simplemma, offline), so ``film``/``films`` and ``scene``/``scenes`` are one
tag, shown in its lemma (singular) form. A tag must be able to describe a document: stop words (also as a
lemma: ``having`` -> ``have``), generic words and source names (taxonomy ``[tags] generic`` and ``sources``)
and words that can only be an adverb, verb, pronoun, ... (lemminflect's part-of-speech lemma tables:
``especially``, ``seem``) are dropped; a word those tables do not know (a name, a rare term) is kept.
Candidate embeddings are cached across documents.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import cache, cached_property, lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl
import simplemma

from condpt_dagster.labelers.pyregex import with_python_words
from condpt_dagster.labelers.word_table import WordTable

# scikit-learn's CountVectorizer analyzer, spelled out (stop words and 1-2-grams after stop-word removal) so
# that each token is lemmatized once rather than once per n-gram it is part of. Hyphens only join letters:
# "ms-" (from "MS-13") and "--" are not words.
_TOKEN = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z]+(?:-[a-zA-Z]+)*\b")
# A play's speech prefixes ("Ham. Whither ...", "Mrs. Talb. Stay"): who speaks, abbreviated (the Folio's `Ham`,
# `Cassi`, `Bru` were tags of the dev plays), not what the text is about: one or two capitalized words of up to six
# letters with a period opening a line, before a capital (the labelers join their windows' sentences a line each,
# so a sentence of one short word goes too, "Yes." or "Hush.", and says as little). Only at a line's start: a
# sentence's start too cost 8x the time of lower-casing the text.
_SPEECH_PREFIX = re.compile(r"^[ \t]*(?:[A-Z][a-z]{0,5}\.\s+){1,2}(?=[A-Z])", re.MULTILINE)
# Parts of speech a keyword can take (lemminflect's universal tags); a word that can be none of them is no tag.
_DESCRIBING = frozenset({"NOUN", "PROPN", "ADJ"})


@cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (CountVectorizer's), read from their source file as a literal: importing
    scikit-learn for them cost each new labelling process 1.2 s. Imported if the file is ever laid out otherwise."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    source = Path(spec.origin).parent / "feature_extraction" / "_stop_words.py" if spec and spec.origin else None
    try:
        for node in ast.parse(source.read_text(encoding="utf-8")).body if source else []:
            if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["ENGLISH_STOP_WORDS"]:
                return frozenset(ast.literal_eval(node.value.args[0]))
    except (OSError, SyntaxError, ValueError, AttributeError, IndexError):
        pass
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def _stop_list() -> list[str]:
    return sorted(_stop_words())


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    return simplemma.lemmatize(word, lang="en").lower()


def lemma_phrase(phrase: str) -> str:
    return " ".join(lemma(w) for w in phrase.split())


@lru_cache(maxsize=200_000)
def parts_of_speech(word: str) -> frozenset[str]:
    """The parts of speech lemminflect's tables know ``word`` as (empty for a word they do not know)."""
    import lemminflect

    return frozenset(lemminflect.getAllLemmas(word))


def can_describe(word: str) -> bool:
    """Whether ``word`` can be a noun or an adjective (or is unknown to the tables: names, rare terms)."""
    tags = parts_of_speech(word)
    return not tags or not _DESCRIBING.isdisjoint(tags)


# Early Modern printers' spellings (Shakespeare's First Folio, the 1611 Bible) of words the tables know: u for a
# v inside a word (haue, themselues), v for an initial u (vpon, vnto), a final e (speake, selfe), ee for e (heere)
_OLD_SPELLINGS = (
    (re.compile(r"(?<=[a-z])u(?=[aeiou])"), "v"),
    (re.compile(r"^v(?=[^aeiouy])"), "u"),
    (re.compile(r"e$"), ""),
    (re.compile(r"ee"), "e"),
)


@lru_cache(maxsize=200_000)
def modern_spellings(word: str) -> frozenset[str]:
    """What ``word``, unknown to the part-of-speech tables, spells in modern English if it is an old spelling
    (``haue`` -> ``have``, ``heere`` -> ``here``): each rule of ``_OLD_SPELLINGS`` applied or not; {} for a word
    the tables know. A name may collide (``Howe`` -> ``how``): rare beside the Folio's every other line."""
    if parts_of_speech(word) or word in _stop_words():
        return frozenset()
    spellings = {word}
    for pattern, replacement in _OLD_SPELLINGS:
        spellings |= {pattern.sub(replacement, s) for s in spellings}
    return frozenset(spellings - {word})


def is_tag_word(name: str, generic: frozenset[str]) -> bool:
    """Whether lemma ``name`` may be a tag: no stop word, generic word or word that cannot describe (and no old
    spelling of one: ``haue``, ``speake``), and three letters at least."""
    stop = _stop_words()
    return len(name) >= 3 and all(
        w not in generic and w not in stop and can_describe(w) for w in (name, *modern_spellings(name))
    )


def _tag_text(text: str) -> str:
    """The text tags are counted in: lower-cased, speech prefixes out."""
    return _SPEECH_PREFIX.sub("", text).lower()


def candidates_of(text: str, generic: frozenset[str], limit: int = 30) -> list[str]:
    """The ``limit`` most frequent lemmatized 1-2-grams of ``text`` whose words may be tags (:func:`is_tag_word`)."""
    stop = _stop_words()
    lemmas = [lemma(t) for t in _TOKEN.findall(_tag_text(text)) if t not in stop]
    bad = [not is_tag_word(p, generic) for p in lemmas]
    counts: Counter[str] = Counter(w for w, b in zip(lemmas, bad, strict=True) if not b)
    for (a, b), (bad_a, bad_b) in zip(pairwise(lemmas), pairwise(bad), strict=False):
        if not (bad_a or bad_b or a == b):
            counts[f"{a} {b}"] += 1
    # A two-word phrase must recur to be a keyword; single occurrences are mostly accidental pairs.
    keep = [g for g, n in counts.most_common() if n >= 2 or " " not in g]
    return keep[:limit]


class CandidateTable:
    """What :func:`candidates_batch` knows of every token it has met: its lemma (an id into ``names``) and
    whether that lemma can be a tag, kept in a :class:`WordTable`, so that a long-running labeler
    lemmatizes and checks each word once, not once per batch. ``base`` (token, lemma, good), as
    :meth:`export` writes it, is kept from the start."""

    SCHEMA = pl.Schema({"token": pl.String, "lemma": pl.String, "good": pl.Boolean})

    def __init__(self, generic: frozenset[str], max_tokens: int = 200_000, base: pl.DataFrame | None = None) -> None:
        self.generic = generic
        self.names: list[str] = []  # lemma id -> lemma
        self._ids: dict[str, int] = {}
        start = None
        if base is not None:
            base = base.select(self.SCHEMA.names()).cast(dict(self.SCHEMA))
            start = base.select("token", gram=pl.Series([self._id(n) for n in base["lemma"].to_list()]), good="good")
        self._base_names = len(self.names)
        schema = {"token": pl.String, "gram": pl.Int64, "good": pl.Boolean}
        self.words = WordTable(schema, self._compute, max_tokens, on_clear=self._forget, base=start)

    def export(self) -> pl.DataFrame:
        """Every token met so far: its lemma and whether it can be a tag."""
        names = pl.Series("lemma", self.names, pl.String)
        return self.words.table.select("token", lemma=names.gather(self.words.table["gram"]), good="good")

    def _id(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self.names)
            self.names.append(name)
        return self._ids[name]

    def _forget(self) -> None:
        for name in self.names[self._base_names :]:
            del self._ids[name]
        del self.names[self._base_names :]

    def _compute(self, tokens: list[str]) -> dict[str, list]:
        grams, good = [], []
        for token in tokens:
            name = lemma(token)
            grams.append(self._id(name))
            good.append(is_tag_word(name, self.generic))
        return {"gram": grams, "good": good}


def candidates_batch(
    texts: Sequence[str], generic: frozenset[str], limit: int = 30, table: CandidateTable | None = None
) -> list[list[str]]:
    """:func:`candidates_of` for a batch, list for list: tokens are cut out of the whole batch in polars and
    looked up in ``table`` (lemma and the describing-word check once per distinct word: pass the same table
    batch after batch), and the 1-2-grams are counted and ranked per text as ``Counter.most_common`` ranks
    them (count, then unigrams before bigrams, then first occurrence). Grams are counted as integer ids (a
    bigram is ``first * n_lemmas + second``)."""
    if table is None:
        table = CandidateTable(generic)
    elif table.generic != generic:
        raise ValueError("candidates_batch: the table was built for other generic words")
    tokens = (
        pl.DataFrame({"text": with_python_words(pl.Series([_tag_text(t) for t in texts], dtype=pl.String))})
        .select(row=pl.int_range(pl.len(), dtype=pl.Int64), token=pl.col("text").str.extract_all(_TOKEN.pattern))
        .explode("token")
        .drop_nulls("token")
        .filter(~pl.col("token").is_in(_stop_list()))
    )
    if tokens.is_empty():
        return [[] for _ in texts]
    words = table.words.lookup(tokens).select("row", "gram", "good", position=pl.int_range(pl.len(), dtype=pl.Int64))
    names, n = table.names, len(table.names)
    pairs = words.with_columns(
        next_gram=pl.col("gram").shift(-1), next_good=pl.col("good").shift(-1), next_row=pl.col("row").shift(-1)
    ).filter(pl.col("good") & pl.col("next_good") & (pl.col("row") == pl.col("next_row")))
    grams = pl.concat(
        [
            words.filter("good").select("row", "position", "gram", kind=pl.lit(0, pl.Int8)),
            pairs.filter(pl.col("gram") != pl.col("next_gram")).select(
                "row", "position", gram=pl.col("gram") * n + pl.col("next_gram"), kind=pl.lit(1, pl.Int8)
            ),
        ]
    )
    ranked = (
        grams.group_by("row", "gram", "kind")
        .agg(count=pl.len(), first=pl.col("position").min())
        .filter((pl.col("count") >= 2) | (pl.col("kind") == 0))  # a two-word phrase must recur
        .sort(["row", "count", "kind", "first"], descending=[False, True, False, False])
        .group_by("row", maintain_order=True)
        .head(limit)
    )
    out: list[list[str]] = [[] for _ in texts]
    for row, gram, kind in ranked.select("row", "gram", "kind").iter_rows():
        out[row].append(names[gram] if kind == 0 else f"{names[gram // n]} {names[gram % n]}")
    return out


def mmr(doc: np.ndarray, cands: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` candidates, relevant to ``doc`` and unlike each other."""
    relevance = cands @ doc
    chosen = [int(relevance.argmax())]
    while len(chosen) < min(k, len(cands)):
        redundancy = (cands @ cands[chosen].T).max(axis=1)
        score = (1 - diversity) * relevance - diversity * redundancy
        score[chosen] = -np.inf
        chosen.append(int(score.argmax()))
    return chosen


def mmr_batch(docs: np.ndarray, cands: np.ndarray, counts: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """:func:`mmr` for a batch at once: ``docs`` (n x dim), ``cands`` (n x K x dim, the first ``counts[i]``
    rows of document i are its candidates) -> n x k candidate indices in the order chosen, -1 past each
    document's ``min(k, counts[i])``."""
    n, width = cands.shape[:2]
    valid = np.arange(width)[None, :] < counts[:, None]
    relevance = np.where(valid, np.einsum("nkd,nd->nk", cands, docs), -np.inf)
    similarity = cands @ cands.transpose(0, 2, 1)  # n x K x K
    rows = np.arange(n)
    chosen = np.full((n, k), -1)
    taken = ~valid
    redundancy = np.full((n, width), -np.inf)
    for step in range(min(k, width)):
        score = relevance if step == 0 else (1 - diversity) * relevance - diversity * redundancy
        pick = np.where(taken, -np.inf, score).argmax(axis=1)
        live = step < np.minimum(k, counts)
        chosen[live, step] = pick[live]
        taken[rows, pick] = True
        redundancy = np.maximum(redundancy, similarity[rows, :, pick])
    return chosen


class KeywordTagger:
    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        generic: frozenset[str],
        candidates: int = 30,
        diversity: float = 0.5,
        min_score: float = 0.15,
        cache_size: int = 200_000,
        candidate_base: pl.DataFrame | None = None,
    ) -> None:
        self.encode = encode
        self.candidate_base = candidate_base  # CandidateTable.export() of an earlier tagger: its tokens kept
        self.generic = generic
        self.candidates = candidates
        self.diversity = diversity
        self.min_score = min_score
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def candidates_of(self, text: str) -> list[str]:
        return candidates_of(text, self.generic, self.candidates)

    @cached_property
    def candidate_table(self) -> CandidateTable:
        """What :func:`candidates_batch` keeps of the words this tagger has met (batch callers pass it)."""
        return CandidateTable(self.generic, base=self.candidate_base)

    def embed(self, phrases: Iterable[str]) -> None:
        phrases = set(phrases)
        missing = sorted(p for p in phrases if p not in self._cache)
        for phrase, vec in zip(missing, self.encode(missing), strict=True):
            self._cache[phrase] = vec
        for phrase in phrases:
            self._cache.move_to_end(phrase)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def select(self, doc: np.ndarray, cands: list[str], k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (tag, similarity) pairs by relevance; no tag repeats a word of a better one."""
        if not cands:
            return []
        cand_vecs = np.stack([self._cache[c] for c in cands])
        return self._keep(cands, cand_vecs, doc, mmr(doc, cand_vecs, 2 * k, self.diversity), k)

    def select_batch(self, docs: np.ndarray, cands: list[list[str]], k: int) -> list[list[tuple[str, float]]]:
        """:meth:`select` for every document of a batch, with one :func:`mmr_batch`."""
        width = max((len(c) for c in cands), default=0)
        if width == 0:
            return [[] for _ in cands]
        vecs = np.zeros((len(cands), width, docs.shape[1]), dtype=docs.dtype)
        for i, phrases in enumerate(cands):
            if phrases:
                vecs[i, : len(phrases)] = np.stack([self._cache[c] for c in phrases])
        counts = np.array([len(c) for c in cands])
        picked = mmr_batch(docs, vecs, counts, 2 * k, self.diversity)
        return [
            self._keep(phrases, vecs[i], docs[i], [int(j) for j in picked[i] if j >= 0], k) if phrases else []
            for i, phrases in enumerate(cands)
        ]

    def _keep(
        self, cands: list[str], cand_vecs: np.ndarray, doc: np.ndarray, picked: list[int], k: int
    ) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        used_words: set[str] = set()
        for i in picked:
            score = float(cand_vecs[i] @ doc)
            words = set(cands[i].split())
            if score < self.min_score or words & used_words:  # no "garment" next to "garment industry"
                continue
            out.append((cands[i], score))
            used_words |= words
            if len(out) == k:
                break
        return sorted(out, key=lambda kv: -kv[1])
