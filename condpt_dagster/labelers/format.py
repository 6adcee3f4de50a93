"""The document's format (genre / register): encoder similarity to format prototypes plus layout cues.

A sentence encoder separates formats by what sentences say (a recipe step, a quote from an official); the
layout cues (labelers/format_cues.py) add what it cannot see: line structure, dialogue, narration, numbers,
legal and scholarly formulae. Each cue is a rate in [0, 1]. A format's score is

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

from condpt_dagster.labelers.format_cues import CUES
from condpt_dagster.labelers.sentiment import LABEL_HEADS

# format -> {cue: weight, in similarity units, at cue rate 1.0}; hand-set, for formats the dev sets lack
CUE_WEIGHTS: dict[str, dict[str, float]] = {
    "code": {"code_lines": 0.15},
    "list": {"list_lines": 0.1},
    "poetry": {"verse_lines": 0.1},
    # speaker turns (a name that opens several lines) are what a transcript is: x scale 16 = 8 at a turn on 40% of
    # the lines. Chosen on the tune split of `plays` (never fitted): 0.1 -> 0.19, 0.3 -> 0.67, 0.5 -> 0.79, 0.8 ->
    # 0.81; no other dev source moved at any of these (transcript's gate: BENCHMARKS.md, issue 30 format part 14)
    "transcript": {"speaker_lines": 0.5},
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
