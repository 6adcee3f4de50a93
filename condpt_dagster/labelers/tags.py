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
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from itertools import pairwise

import numpy as np
import simplemma

# scikit-learn's CountVectorizer analyzer, spelled out (stop words and 1-2-grams after stop-word removal) so
# that each token is lemmatized once rather than once per n-gram it is part of. Hyphens only join letters:
# "ms-" (from "MS-13") and "--" are not words.
_TOKEN = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z]+(?:-[a-zA-Z]+)*\b")
# Parts of speech a keyword can take (lemminflect's universal tags); a word that can be none of them is no tag.
_DESCRIBING = frozenset({"NOUN", "PROPN", "ADJ"})


@cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    return simplemma.lemmatize(word, lang="en").lower()


def lemma_phrase(phrase: str) -> str:
    return " ".join(lemma(w) for w in phrase.split())


@lru_cache(maxsize=200_000)
def can_describe(word: str) -> bool:
    """Whether ``word`` can be a noun or an adjective (or is unknown to the tables: names, rare terms)."""
    import lemminflect

    tags = lemminflect.getAllLemmas(word)
    return not tags or not _DESCRIBING.isdisjoint(tags)


def candidates_of(text: str, generic: frozenset[str], limit: int = 30) -> list[str]:
    """The ``limit`` most frequent lemmatized 1-2-grams of ``text`` without stop, generic or non-describing
    words."""
    stop = _stop_words()
    lemmas = [lemma(t) for t in _TOKEN.findall(text.lower()) if t not in stop]
    bad = [p in generic or p in stop or len(p) < 3 or not can_describe(p) for p in lemmas]
    counts: Counter[str] = Counter(w for w, b in zip(lemmas, bad, strict=True) if not b)
    for (a, b), (bad_a, bad_b) in zip(pairwise(lemmas), pairwise(bad), strict=False):
        if not (bad_a or bad_b or a == b):
            counts[f"{a} {b}"] += 1
    # A two-word phrase must recur to be a keyword; single occurrences are mostly accidental pairs.
    keep = [g for g, n in counts.most_common() if n >= 2 or " " not in g]
    return keep[:limit]


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


class KeywordTagger:
    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        generic: frozenset[str],
        candidates: int = 30,
        diversity: float = 0.5,
        min_score: float = 0.15,
        cache_size: int = 200_000,
    ) -> None:
        self.encode = encode
        self.generic = generic
        self.candidates = candidates
        self.diversity = diversity
        self.min_score = min_score
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def candidates_of(self, text: str) -> list[str]:
        return candidates_of(text, self.generic, self.candidates)

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
        picked = mmr(doc, cand_vecs, 2 * k, self.diversity)
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
