"""The document's format (genre / register): encoder similarity to format prototypes plus layout cues.

A sentence encoder separates formats by what sentences say (a recipe step, a quote from an official); the
layout cues add what it cannot see: line structure (code, lists, verse, speaker turns), dialogue,
third-person narration, numbers and names (news), first-person voice (blogs, reviews, forums), legal and
scholarly formulae. Each cue is a rate in [0, 1]. A format's score is

    scale * (similarity(format) + sum(hand[format][cue] * cue)) + sum(fitted[format][cue] * cue)

and the best score wins. ``scale`` and the cue weights of the formats the dev sets cover (news, fiction,
review, transcript, code) are fitted by bench/train_label_heads.py (softmax over all formats on the dev
tune split, no per-format bias: a bias would learn that the formats without dev data never occur) and
stored in ``data/label_heads.json``; the other formats keep the hand-set structural weights ``CUE_WEIGHTS``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from statistics import median

import numpy as np

from condpt_dagster.labelers.sentiment import LABEL_HEADS

_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|#include|return\b|if .*:$|for .*:$|\}|\{|//|/\*|<\w+[^>]*>$)"
    r"|[;{}]\s*$|^\s{4,}\S.*[=(].*"
)
_LIST_LINE = re.compile(r"^\s*(?:[-*•·▪]|\d{1,3}[.)]|[a-z][.)])\s+\S|\|.*\|")
_SPEAKER_LINE = re.compile(r"^\s*(?:[A-Z][A-Za-z.'\-]*(?: [A-Z][A-Za-z.'\-]*){0,3}|Q|A)\s*:\s+\S")
_QUOTE = re.compile(r"[\"“”]")
_WORD = re.compile(r"[A-Za-z']+")
_NARRATIVE = frozenset(("he", "she", "him", "her", "his", "had", "was", "were", "said", "asked", "looked"))
_NARRATIVE |= {"thought", "felt", "knew", "replied"}
_FIRST_PERSON = frozenset(("i", "me", "my", "mine", "i'm", "i've", "i'd", "myself"))
_SECOND_PERSON = frozenset(("you", "your", "you're", "yours"))
_PROPER = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")
_QUOTE_START = re.compile(r"^\s*[\"“‘']")
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
# Wording cues: cue -> (pattern, matches per word that count as a full 1.0).
_WORDING: dict[str, tuple[re.Pattern[str], float]] = {
    "legal": (
        re.compile(r"\b(?:shall|hereby|herein|thereof|pursuant|licen[cs]e[er]|warrant(?:y|ies)|liability)\b|§", re.I),
        0.01,
    ),
    "academic": (
        re.compile(r"\bet al\.|\bin this (?:paper|study)\b|\bwe (?:propose|present)\b|\[\d+\]|\(\w+,? \d{4}\)", re.I),
        0.005,
    ),
    "steps": (
        re.compile(r"\b(?:step \d|first,|next,|then,|finally,|click|select|preheat|stir|install|tap)\b", re.I),
        0.01,
    ),
    "commerce": (
        re.compile(r"\$\d|\b(?:buy|price|shipping|order now|discount|sale|free trial|add to cart)\b", re.I),
        0.01,
    ),
    "news": (
        re.compile(rf"\b(?:said on {_DAY}|according to|officials?|spokes(?:man|woman)|told reporters|reported)\b"),
        0.005,
    ),
    "forum": (
        re.compile(r"\b(?:re:|reply|replied|posted|thread|thanks in advance|anyone know|lol|imho)\b", re.I),
        0.005,
    ),
    "digits": (re.compile(r"\b\d[\d,.:%$]*\b"), 0.05),
}
# Substrings every match of a wording pattern contains (casefolded, which covers what re.I matches once the two
# Turkish i's are folded too; news is case-sensitive): a text holding none of them has no match, and the regex
# scan is skipped.
_DOTTED_I = str.maketrans({"\u0307": "", "ı": "i"})  # casefold("İ") is "i" + U+0307; re.I matches ı to i
_NEEDLES: dict[str, tuple[str, ...]] = {
    "legal": ("shall", "hereby", "herein", "thereof", "pursuant", "licen", "warrant", "liabilit", "§"),
    "steps": ("step ", "first,", "next,", "then,", "finally,", "click", "select", "preheat", "stir", "install", "tap"),
    "commerce": ("$", "buy", "price", "shipping", "order now", "discount", "sale", "free trial", "add to cart"),
    "news": ("said on ", "according to", "official", "spokes", "told reporters", "reported"),
    "forum": ("re:", "repl", "posted", "thread", "thanks in advance", "anyone know", "lol", "imho"),
}


def _wording_matches(cue: str, pattern: re.Pattern[str], text: str, folded: str) -> int:
    needles = _NEEDLES.get(cue)
    if needles and not any(n in (text if cue == "news" else folded) for n in needles):
        return 0
    return len(pattern.findall(text))


# format -> {cue: weight, in similarity units, at cue rate 1.0}; hand-set, for formats the dev sets lack
CUE_WEIGHTS: dict[str, dict[str, float]] = {
    "code": {"code_lines": 0.15},
    "list": {"list_lines": 0.1},
    "poetry": {"verse_lines": 0.1},
    "transcript": {"speaker_lines": 0.1},
    "fiction": {"narrative": 0.08, "dialogue_lines": 0.05},
    "personal-blog": {"first_person": 0.04},
    "review": {"first_person": 0.02},
    "forum": {"forum": 0.1, "first_person": 0.02, "speaker_lines": 0.03},
    "tutorial": {"steps": 0.1, "second_person": 0.05},
    "product-page": {"commerce": 0.1, "second_person": 0.02},
    "legal": {"legal": 0.15},
    "academic": {"academic": 0.15},
    "news": {"news": 0.08, "digits": 0.03},
}
# Formats with a layout or wording signature they cannot lack: below this cue rate they are not chosen,
# however similar the sentences are (Melville's prose is not a poem because it sounds like one).
REQUIRED_CUES: dict[str, tuple[str, float]] = {
    "poetry": ("verse_lines", 0.5),
    "list": ("list_lines", 0.3),
    "product-page": ("commerce", 0.5),
    "legal": ("legal", 0.5),
}


def _rate(count: float, total: float, saturation: float) -> float:
    """count/total scaled so that ``saturation`` (a typical rate for the format) maps to 1.0."""
    return float(min(1.0, count / max(total, 1.0) / saturation))


def structure_cues(text: str, words: list[str]) -> dict[str, float]:
    """The cues that only need lines and lowercased words (no wording patterns): what the student reads."""
    lines = [line for line in text.splitlines() if line.strip()]
    n_lines = len(lines)
    n_words = len(words)
    counts = Counter(words)
    sentences = max(1, len(re.findall(r"[.!?](?:\s|$)", text)))
    short_lines = n_lines >= 4 and median(len(line) for line in lines) < 50 and sentences < n_lines * 0.8
    return {
        "code_lines": _rate(sum(bool(_CODE_LINE.search(line)) for line in lines), n_lines, 0.4),
        "list_lines": _rate(sum(bool(_LIST_LINE.match(line)) for line in lines), n_lines, 0.5),
        "verse_lines": 1.0 if short_lines else 0.0,
        "speaker_lines": _rate(sum(bool(_SPEAKER_LINE.match(line)) for line in lines), n_lines, 0.4),
        "dialogue": _rate(len(_QUOTE.findall(text)) / 2, sentences, 0.3),
        "narrative": _rate(sum(counts[w] for w in _NARRATIVE), n_words, 0.08),
        "first_person": _rate(sum(counts[w] for w in _FIRST_PERSON), n_words, 0.05),
        "second_person": _rate(sum(counts[w] for w in _SECOND_PERSON), n_words, 0.04),
        "dialogue_lines": _rate(sum(bool(_QUOTE_START.match(line)) for line in lines), n_lines, 0.3),
    }


def layout_cues(text: str) -> dict[str, float]:
    """Cue rates in [0, 1] for one document (markup already stripped)."""
    words = words_of(text)
    n_words = len(words)
    folded, wording = text.casefold().translate(_DOTTED_I), _WORDING.items()
    return {
        **structure_cues(text, words),
        **{cue: _rate(_wording_matches(cue, pattern, text, folded), n_words, full) for cue, (pattern, full) in wording},
        "proper_nouns": _rate(len(_PROPER.findall(text)), n_words, 0.08),
    }


def words_of(text: str) -> list[str]:
    """Lowercased words as the cues count them."""
    return [w.lower() for w in _WORD.findall(text)]


CUES = tuple(layout_cues("x"))
STRUCTURE_CUES = tuple(structure_cues("x", ["x"]))


@dataclass(frozen=True)
class FormatModel:
    """How similarity and cues add up per format: fitted weights from label_heads.json where the dev sets
    cover a format, the hand-set ``CUE_WEIGHTS`` (in similarity units) elsewhere."""

    scale: float = 1.0
    hand: dict[str, dict[str, float]] = field(default_factory=lambda: CUE_WEIGHTS)
    fitted: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    @cache
    def load(cls, path: Path = LABEL_HEADS) -> FormatModel:
        spec = json.loads(path.read_text(encoding="utf-8")).get("format")
        if spec is None:
            return cls()
        hand = {name: cues for name, cues in CUE_WEIGHTS.items() if name not in spec["weights"]}
        return cls(float(spec["scale"]), hand, spec["weights"])

    def scores(self, similarities: dict[str, float], cues: dict[str, float]) -> dict[str, float]:
        out = {}
        for name, sim in similarities.items():
            required = REQUIRED_CUES.get(name)
            if required and cues.get(required[0], 0.0) < required[1]:
                out[name] = -np.inf
                continue
            hand = sum(w * cues.get(cue, 0.0) for cue, w in self.hand.get(name, {}).items())
            fitted = sum(w * cues.get(cue, 0.0) for cue, w in self.fitted.get(name, {}).items())
            out[name] = self.scale * (sim + hand) + fitted
        return out

    def contributions(self, name: str, cues: dict[str, float]) -> dict[str, float]:
        """What each layout cue added to ``name``'s score (the same terms :meth:`scores` sums)."""
        hand, fitted = self.hand.get(name, {}), self.fitted.get(name, {})
        return {cue: self.scale * hand.get(cue, 0.0) * rate + fitted.get(cue, 0.0) * rate for cue, rate in cues.items()}


EVIDENCE_CUES = 3  # layout cues recorded per document (the ones that added most to the chosen format)


def evidence(model: FormatModel, scores: dict[str, float], cues: dict[str, float], best: str) -> dict[str, float]:
    """What decided the format, as label scores an auditor reads (`condpt audit show`): the chosen format's
    score, the runner-up's, and the layout cues that moved the chosen one most (``cue:<name>``)."""
    out = {f"format:{best}": round(scores[best], 4)}
    others = [(s, n) for n, s in scores.items() if n != best and np.isfinite(s)]
    if others:
        score, name = max(others)
        out[f"format:{name}"] = round(score, 4)
    moved = sorted(model.contributions(best, cues).items(), key=lambda kv: -abs(kv[1]))
    out |= {f"cue:{cue}": round(value, 4) for cue, value in moved[:EVIDENCE_CUES] if round(value, 4)}
    return out


def best_format(similarities: np.ndarray, names: list[str], text: str) -> tuple[str, dict[str, float]]:
    """The format and its evidence (:func:`evidence`)."""
    model, cues = FormatModel.load(), layout_cues(text)
    scores = model.scores(dict(zip(names, similarities.tolist(), strict=True)), cues)
    best = max(scores, key=scores.__getitem__)
    return best, evidence(model, scores, cues, best)
