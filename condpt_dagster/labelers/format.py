"""The document's format (genre / register): encoder similarity to format prototypes plus layout cues.

A sentence encoder separates formats by what sentences say (a recipe step, a quote from an official); the
layout cues add what it cannot see: line structure (code, lists, verse, speaker turns), dialogue,
third-person narration, numbers and names (news), reported speech (news, fiction; not encyclopedias),
first-person voice (blogs, reviews, forums), legal and scholarly formulae, and an opinion piece's sign-off that
its views are the author's own. Each cue is a rate in [0, 1]. A format's score is

    scale * (similarity(format) + sum(hand[format][cue] * cue)) + sum(fitted[format][cue] * cue)

and the best score wins. ``scale`` and the cue weights of the formats the dev sets cover (news, fiction,
review, speech, code, email, essay, legal, encyclopedic) are fitted by tools/train_label_heads.py (softmax
over all formats on the dev tune split, no per-format bias: a bias would learn that the formats without dev
data never occur) and stored in ``data/label_heads.json``; the other formats keep the hand-set structural
weights ``CUE_WEIGHTS``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from condpt_dagster.labelers.pyregex import SPACE, with_python_words
from condpt_dagster.labelers.sentiment import LABEL_HEADS

# The cues run over a whole batch in polars (the regex crate: one pass per pattern per batch, several times
# faster than Python's re). They equal the per-document Python definitions they replaced
# (tests/cue_oracle.py): pyregex.py bridges the engines' \s, \w and case-insensitive matching.
_S = SPACE
_CODE_LINE = (
    rf"^{_S}*(?:def |class |import |from \S+ import|#include|return\b|if .*:$|for .*:$|\}}|\{{|//|/\*|<\w+[^>]*>$)"
    rf"|[;{{}}]{_S}*$|^{_S}{{4,}}[^\s\x1c-\x1f].*[=(].*"
)
_LIST_LINE = rf"^(?:{_S}*(?:[-*•·▪]|\d{{1,3}}[.)]|[a-z][.)]){_S}+[^\s\x1c-\x1f]|\|.*\|)"  # re.match: anchored
_SPEAKER_LINE = rf"^{_S}*(?:[A-Z][A-Za-z.'\-]*(?: [A-Z][A-Za-z.'\-]*){{0,3}}|Q|A){_S}*:{_S}+[^\s\x1c-\x1f]"
# Mail: an archive's header lines, quoted reply lines (not a Python prompt's >>>), "... wrote:", a signature
# delimiter, a forwarded original. A header line also looks like a speaker's turn ("From: Ann"): it is not one.
_MAIL_HEADER = rf"^{_S}*(?:From|To|Cc|Bcc|Subject|Date|Sent|Reply-To){_S}*:{_S}+[^\s\x1c-\x1f]"
_MAIL_LINE = (
    rf"{_MAIL_HEADER}|^{_S}*>(?:{_S}|$|>{_S}|>$|[^>\s\x1c-\x1f])|wrote:{_S}*$|^--{_S}?$|^-+ ?Original Message ?-+"
)
_QUOTE_START = rf"^{_S}*[\"“‘']"
_QUOTE = r"[\"“”]"
_SENTENCE_END = rf"[.!?](?:{_S}|$)"
_LOWER_WORD = r"[a-z']+"  # words as the cues count them ([A-Za-z']+, lower-cased)
_NARRATIVE = ("he", "she", "him", "her", "his", "had", "was", "were", "said", "asked", "looked")
_NARRATIVE += ("thought", "felt", "knew", "replied")
_FIRST_PERSON = ("i", "me", "my", "mine", "i'm", "i've", "i'd", "myself")
_SECOND_PERSON = ("you", "your", "you're", "yours")
# A capitalized word after a lower-case letter, comma or semicolon and a space (a name mid-sentence). The regex
# crate has no look-behind: every space before a capitalized word is counted, minus those after any other
# character or at the very start (neither pattern can overlap itself).
_SPACE_CAPITAL, _OTHER_SPACE_CAPITAL = " [A-Z][a-z]", "[^a-z,;] [A-Z][a-z]"
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
# Line breaks as str.splitlines() knows them, for a character class: an index or a backquoted span stays on one line
_BREAKS = r"\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
# Wording cues: cue -> (pattern, matches per word that count as a full 1.0).
# Case-insensitive ones (all but news and digits) run on the folded text (see _folded), which is much faster
# than the regex crate's (?i) with Unicode word boundaries.
_WORDING: dict[str, tuple[str, float]] = {
    # legal formulae and the words of licences and contracts ("License" itself: a licence's most frequent word)
    "legal": (
        r"\b(?:shall|hereby|herein|thereof|thereto|hereunder|pursuant|notwithstanding|"
        r"licen[cs](?:e|es|ed|ee|ees|er|ing|ors?)|warrant(?:y|ies)|liab(?:le|ility)|copyright(?:s|ed)?|"
        r"indemnif(?:y|ies|ied|ication)|terms and conditions|provided that|in accordance with)\b|§",
        0.01,
    ),
    "academic": (
        r"\bet al\.|\bin this (?:paper|study)\b|\bwe (?:propose|present)\b|\[\d+\]|\(\w+,? \d{4}\)",
        0.005,
    ),
    "steps": (r"\b(?:step \d|first,|next,|then,|finally,|click|select|preheat|stir|install|tap)\b", 0.01),
    "commerce": (r"\$\d|\b(?:buy|price|shipping|order now|discount|sale|free trial|add to cart)\b", 0.01),
    "news": (rf"\b(?:said on {_DAY}|according to|officials?|spokes(?:man|woman)|told reporters|reported)\b", 0.005),
    # who said what: a report's and a story's verbs of speech, which an encyclopedia article hardly uses (82% of
    # the dev news stories have one per 200 words, 1% of the Wikipedia passages)
    "reported_speech": (r"\b(?:said|says|told|asked)\b", 0.01),
    "forum": (r"\b(?:re:|reply|replied|posted|thread|thanks in advance|anyone know|lol|imho)\b", 0.005),
    # code inside prose: empty-call parentheses, method calls, snake_case and __dunder__ names, indexing, grammar
    # rules (::=), comparison operators, backquoted spans; a programming language's reference names them in its
    # sentences (dev tune split: 92% of the Python reference's passages reach 1 per 100 words; no news story,
    # novel passage, speech or Wikipedia article does); an encyclopedia article about a language hardly ever does
    "code_tokens": (
        r"\b[a-z_][a-z0-9_]*\(\)|\b[a-z_]\w*\.[a-z_]\w*\(|\b[a-z][a-z0-9]*_[a-z0-9_]+\b|\b__\w+__\b|"
        rf"\b[a-z_]\w*\[[^\]{_BREAKS}]{{0,20}}\]|::=|==|!=|<=|>=|`[^`{_BREAKS}]{{1,40}}`",
        0.02,
    ),
    "digits": (r"\b\d[\d,.:%$]*\b", 0.05),
    # a speaker addressing an audience (speeches: the chair, the House, fellow citizens)
    "address": (
        r"\b(?:mr\.? speaker|madam (?:deputy )?speaker|mr\.? president|madam president|ladies and gentlemen|"
        r"my fellow|hon(?:ou?rable|\.) (?:members?|friends?|gentleman|lady)|i rise|i beg to move|i urge|"
        r"i ask (?:the )?(?:congress|house)|members of (?:the )?(?:congress|house|senate))\b",
        0.004,
    ),
}
# An opinion piece that says so: newspapers sign op-eds and columns off with "the views expressed in this article
# are the author's own" (23 of the 33 dev test op-eds; no other dev document), never a report. A declaration, not a
# rate: 1.0 with one match, however long the text. Third person only: "all opinions expressed are my own" is how a
# sponsored review or blog post discloses a free sample, not an op-ed.
_VIEWS_OWN = (
    r"\b(?:views|opinions) expressed[a-z'’ ,]{0,60}? (?:are|is) (?:solely |entirely )?(?:(?:the|this) (?:author|"
    r"writer|columnist|contributor)(?:['’]s|s['’]|s)? own|(?:his|her|their) own|(?:those|that) of (?:the|"
    r"its|their) (?:authors?|writers?|columnists?|contributors?))\b"
)
_CASE_SENSITIVE = frozenset({"news", "digits"})
# Python's re.IGNORECASE matches four non-ASCII letters to ASCII ones; str.lower() turns two of them into ASCII.
_IGNORECASE_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_LOWER_TO_ASCII = ("\u0130", "\u212a")  # not letters of [A-Za-z'] words before lower-casing, letters after
# Line breaks as str.splitlines() knows them (the separators \x1c-\x1e are already newlines, see _as_python).
_LINE_BREAK = r"\r\n|[\r\x0b\x0c\x85\u2028\u2029]"
LINE_CUES: dict[str, tuple[str, float]] = {  # cue -> (pattern a line must contain, typical rate)
    "code_lines": (_CODE_LINE, 0.4),
    "list_lines": (_LIST_LINE, 0.5),
    "speaker_lines": (_SPEAKER_LINE, 0.4),
    "dialogue_lines": (_QUOTE_START, 0.3),
    "mail_lines": (_MAIL_LINE, 0.15),
}
_NOT_LINES = {"speaker_lines": _MAIL_HEADER}  # cue -> lines its pattern matches that do not count
WORD_CUES: dict[str, tuple[tuple[str, ...], float]] = {  # cue -> (words counted, typical rate)
    "narrative": (_NARRATIVE, 0.08),
    "first_person": (_FIRST_PERSON, 0.05),
    "second_person": (_SECOND_PERSON, 0.04),
}
# The cues the student reads beside its embedding (no wording patterns), then every cue, in matrix order.
STRUCTURE_CUES = (
    *("code_lines", "list_lines", "verse_lines", "speaker_lines", "dialogue", *WORD_CUES, "dialogue_lines"),
    "mail_lines",
)
CUES = (*STRUCTURE_CUES, *_WORDING, "proper_nouns", "views_own")


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
    "email": {"mail_lines": 0.1},
    # a declaration (views_own) outweighs how the text sounds: x scale 16 = 8 (dev op-eds it missed: 0-5.4 behind)
    "opinion": {"views_own": 0.5},
    "tutorial": {"steps": 0.1, "second_person": 0.05},
    "product-page": {"commerce": 0.1, "second_person": 0.02},
    "legal": {"legal": 0.15},
    "academic": {"academic": 0.15},
    "news": {"news": 0.08, "digits": 0.03},
}
# Formats with a layout or wording signature they cannot lack: unless one of its cues reaches its rate a format
# is not chosen, however similar the sentences are (Melville's prose is not a poem because it sounds like one).
REQUIRED_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "poetry": (("verse_lines", 0.5),),
    "list": (("list_lines", 0.3),),
    "product-page": (("commerce", 0.5),),
    "legal": (("legal", 0.5),),
    # a transcript has speaker turns (NAME: ..., Q: / A:) on a tenth of its lines at least; quotations in a
    # news story or a single speech are not one
    "transcript": (("speaker_lines", 0.25),),
    # a mail shows itself: header lines, quoted replies, "... wrote:" (a letter without them reads as prose)
    "email": (("mail_lines", 0.25),),
    # code shows itself: code lines (2% of the lines) or code in the sentences (1 per 100 words: 96% of the
    # Python reference's tune passages have one or the other); an article about a programming language is not
    # code (the test-only FOLDOC articles were labelled `code`: BENCHMARKS.md, issue 30)
    "code": (("code_lines", 0.05), ("code_tokens", 0.5)),
    # a personal blog speaks for its writer: I, me, my on 0.5% of the words at least (no dev source is one; what
    # was labelled `personal-blog` on the dev test split was third-person blurbs and dictionary entries)
    "personal-blog": (("first_person", 0.1),),
}


def has_required_cue(name: str, cues: dict[str, float]) -> bool:
    """Whether format ``name`` may be chosen for a document with these cue rates (``REQUIRED_CUES``)."""
    required = REQUIRED_CUES.get(name)
    return required is None or any(cues.get(cue, 0.0) >= floor for cue, floor in required)


def required_cue_mask(names: Sequence[str], cues: np.ndarray) -> np.ndarray:
    """:func:`has_required_cue` for a batch: ``cues`` (n x ``CUES``) -> n x ``names`` booleans."""
    allowed = np.ones((len(cues), len(names)), dtype=bool)
    for j, name in enumerate(names):
        if name in REQUIRED_CUES:
            allowed[:, j] = np.any([cues[:, CUES.index(cue)] >= floor for cue, floor in REQUIRED_CUES[name]], axis=0)
    return allowed


def _rate(count: np.ndarray, total: np.ndarray, saturation: float) -> np.ndarray:
    """count/total scaled so that ``saturation`` (a typical rate for the format) maps to 1.0, at most 1.0."""
    return np.minimum(1.0, count / np.maximum(total, 1.0) / saturation)


def _as_python(texts: pl.Series) -> pl.Series:
    r"""Texts on which the regex crate's \s and line splitting agree with Python's: the separators \x1c-\x1e
    (line breaks for str.splitlines) become newlines and \x1f (white space, not a break) a tab."""
    if not texts.str.contains(r"[\x1c-\x1f]").any():
        return texts
    return texts.str.replace_all(r"[\x1c-\x1e]", "\n").str.replace_all("\x1f", "\t", literal=True)


def _folded(texts: pl.Series) -> pl.Series:
    """Lower-cased texts on which a plain pattern of lower-case ASCII matches what Python's re.IGNORECASE
    pattern matches on the texts."""
    specials = list(_IGNORECASE_ASCII)
    return texts.str.replace_many(specials, [_IGNORECASE_ASCII[c] for c in specials]).str.to_lowercase()


def _counts(texts: pl.Series) -> pl.DataFrame:
    """Per text: lines (non-blank) and what matches per line, words, sentences and every pattern's count."""
    text, lines, words, folded = pl.col("text"), pl.col("lines"), pl.col("words"), pl.col("folded")
    frame = pl.DataFrame({"text": texts, "folded": _folded(texts)}).with_columns(
        lines=text.str.replace_all(_LINE_BREAK, "\n")
        .str.split("\n")
        .list.eval(pl.element().filter(pl.element().str.strip_chars() != "")),
        # [A-Za-z']+ words, lower-cased: the letters that lower-casing would turn into ASCII stay separators
        words=text.str.replace_many(list(_LOWER_TO_ASCII), [" "] * len(_LOWER_TO_ASCII))
        .str.to_lowercase()
        .str.extract_all(_LOWER_WORD),
    )
    line = pl.element()
    return frame.select(
        n_lines=lines.list.len(),
        median_line=lines.list.eval(line.str.len_chars()).list.median(),
        n_words=words.list.len(),
        sentences=text.str.count_matches(_SENTENCE_END),
        quotes=text.str.count_matches(_QUOTE),
        proper=text.str.count_matches(_SPACE_CAPITAL)
        - text.str.count_matches(_OTHER_SPACE_CAPITAL)
        - text.str.contains("^" + _SPACE_CAPITAL).cast(pl.UInt32),
        **{cue: lines.list.eval(_line_matches(cue, p)).list.sum() for cue, (p, _) in LINE_CUES.items()},
        **{cue: words.list.eval(line.is_in(list(ws))).list.sum() for cue, (ws, _) in WORD_CUES.items()},
        **{cue: (text if cue in _CASE_SENSITIVE else folded).str.count_matches(p) for cue, (p, _) in _WORDING.items()},
        views_own=folded.str.contains(_VIEWS_OWN).cast(pl.Float64),
    )


def _line_matches(cue: str, pattern: str) -> pl.Expr:
    matches = pl.element().str.contains(pattern)
    return matches & ~pl.element().str.contains(_NOT_LINES[cue]) if cue in _NOT_LINES else matches


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    """``len(texts) x len(CUES)`` cue rates in [0, 1], columns in ``CUES`` order (markup already stripped)."""
    if not texts:
        return np.zeros((0, len(CUES)))
    counts = _counts(with_python_words(_as_python(pl.Series("text", list(texts), dtype=pl.String))))
    col = {name: counts[name].to_numpy().astype(np.float64) for name in counts.columns if name != "median_line"}
    n_lines, n_words, sentences = col["n_lines"], col["n_words"], np.maximum(col["sentences"], 1.0)
    median_line = counts["median_line"].fill_null(0.0).to_numpy()
    rates = {cue: _rate(col[cue], n_lines, typical) for cue, (_, typical) in LINE_CUES.items()}
    rates |= {cue: _rate(col[cue], n_words, typical) for cue, (_, typical) in WORD_CUES.items()}
    rates |= {cue: _rate(col[cue], n_words, full) for cue, (_, full) in _WORDING.items()}
    rates["verse_lines"] = ((n_lines >= 4) & (median_line < 50) & (sentences < n_lines * 0.8)).astype(np.float64)
    rates["dialogue"] = _rate(col["quotes"] / 2, sentences, 0.3)
    rates["proper_nouns"] = _rate(col["proper"], n_words, 0.08)
    rates["views_own"] = col["views_own"]
    return np.column_stack([rates[cue] for cue in CUES])


def layout_cues(text: str) -> dict[str, float]:
    """Cue rates in [0, 1] for one document (markup already stripped); batches use :func:`cue_matrix`."""
    return dict(zip(CUES, cue_matrix([text])[0].tolist(), strict=True))


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
        return cls() if spec is None else cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: dict) -> FormatModel:
        """The model of a fitted spec (label_heads.json's ``format``): hand-set weights where nothing was fitted."""
        hand = {name: cues for name, cues in CUE_WEIGHTS.items() if name not in spec["weights"]}
        return cls(float(spec["scale"]), hand, spec["weights"])

    def scores(self, similarities: dict[str, float], cues: dict[str, float]) -> dict[str, float]:
        out = {}
        for name, sim in similarities.items():
            if not has_required_cue(name, cues):
                out[name] = -np.inf
                continue
            hand = sum(w * cues.get(cue, 0.0) for cue, w in self.hand.get(name, {}).items())
            fitted = sum(w * cues.get(cue, 0.0) for cue, w in self.fitted.get(name, {}).items())
            out[name] = self.scale * (sim + hand) + fitted
        return out

    def score_matrix(self, names: Sequence[str], similarities: np.ndarray, cues: np.ndarray) -> np.ndarray:
        """:meth:`scores` for a batch: ``similarities`` (n x formats, in ``names`` order) and ``cues`` (n x
        ``CUES``, :func:`cue_matrix`) -> n x formats, ``-inf`` where a required cue is missing."""
        hand, fitted = self._weights(tuple(names))
        scores = self.scale * (similarities + cues @ hand.T) + cues @ fitted.T
        scores[~required_cue_mask(names, cues)] = -np.inf
        return scores

    def _weights(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The hand-set and fitted cue weights as formats x ``CUES`` matrices."""

        def matrix(weights: dict[str, dict[str, float]]) -> np.ndarray:
            return np.array([[weights.get(n, {}).get(c, 0.0) for c in CUES] for n in names]).reshape(len(names), -1)

        return matrix(self.hand), matrix(self.fitted)

    def contributions(self, name: str, cues: dict[str, float]) -> dict[str, float]:
        """What each layout cue added to ``name``'s score (the same terms :meth:`scores` sums)."""
        hand, fitted = self.hand.get(name, {}), self.fitted.get(name, {})
        return {cue: self.scale * hand.get(cue, 0.0) * rate + fitted.get(cue, 0.0) * rate for cue, rate in cues.items()}


@dataclass(frozen=True)
class FormatEmbeddingHead:
    """A second opinion from the document embedding (logistic regression, label_heads.json's
    ``format_embedding``), consulted only where the prototypes and cues chose one of the formats it was fitted on,
    and then only among those: ``score + beta * logit``. A format without dev data is never taken from or given to
    by it (a head that knows nine formats would send the rest of a corpus to them: BENCHMARKS.md "Does the format
    head learn formats or sources?")."""

    formats: tuple[str, ...]
    coef: np.ndarray  # formats x embedding dimensions
    intercept: np.ndarray  # formats
    beta: float

    @classmethod
    @cache
    def load(cls, path: Path = LABEL_HEADS) -> FormatEmbeddingHead | None:
        spec = json.loads(path.read_text(encoding="utf-8")).get("format_embedding")
        return None if spec is None else cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: dict) -> FormatEmbeddingHead:
        coef, intercept = np.asarray(spec["coef"], dtype=np.float64), np.asarray(spec["intercept"], dtype=np.float64)
        return cls(tuple(spec["formats"]), coef, intercept, float(spec["beta"]))

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """n x ``formats`` logits of unit document embeddings (n x dimensions)."""
        return vectors @ self.coef.T + self.intercept

    def rerank(self, names: Sequence[str], scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """``scores`` (n x ``names``) where the arg max is a format the head never saw; elsewhere the head's formats
        with ``beta`` x its logits added and every other format ``-inf``."""
        known = [list(names).index(f) for f in self.formats]
        among_known = np.full_like(scores, -np.inf)
        among_known[:, known] = scores[:, known] + self.beta * self.logits(vectors)
        return np.where(np.isin(scores.argmax(1), known)[:, None], among_known, scores)


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


def best_format(
    similarities: np.ndarray, names: list[str], cues: dict[str, float], vector: np.ndarray | None = None
) -> tuple[str, dict[str, float]]:
    """The format and its evidence (:func:`evidence`) from a document's similarities and :func:`layout_cues`, and,
    given its embedding, the :class:`FormatEmbeddingHead`'s second opinion."""
    model, head = FormatModel.load(), FormatEmbeddingHead.load()
    scores = model.scores(dict(zip(names, similarities.tolist(), strict=True)), cues)
    if head is not None and vector is not None:
        row = head.rerank(names, np.array([[scores[n] for n in names]]), vector[None])[0]
        scores = dict(zip(names, row.tolist(), strict=True))
    best = max(scores, key=scores.__getitem__)
    return best, evidence(model, scores, cues, best)
