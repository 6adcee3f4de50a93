"""What the composite labeler reads from a document's text alone, before its encoder sees it.

Per document: the markup-stripped text, its sentences in windows and their token ids (the encoder's input),
the rule labels (rules.py) with alt-profanity-check's probability (the learned rating is finished once the
document's embedding exists), VADER over the window sentences, the keyword-tag candidates and the layout
cues. None of it needs the encoder, so with ``rule_workers = N`` it runs in N processes and the process that
drives the encoder only encodes and applies the heads (BENCHMARKS.md, "The host side of GPU labeling").
Every part is computed per document (or per row of a batch call whose rows are independent), so how
documents are split across processes never changes a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from condpt_dagster.labelers import format_cues, rules
from condpt_dagster.labelers.base import RATING_SAMPLE_CHARS
from condpt_dagster.labelers.rules import RuleLabels, split_sentences
from condpt_dagster.labelers.sentiment import vader_score
from condpt_dagster.labelers.tags import CandidateTable, candidates_batch


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


@dataclass(frozen=True)
class TextReader:
    """How to read: the composite's settings that the text-only parts use (sent to each worker call)."""

    model_dir: str  # the encoder's folder: its tokenizer
    window_words: int
    max_windows: int
    max_sentences_per_window: int
    generic_tags: frozenset[str]
    tag_candidates: int

    def windows_of(self, stripped: str) -> list[list[str]]:
        return windows(split_sentences(stripped), self.window_words, self.max_windows, self.max_sentences_per_window)


@dataclass
class TextReading:
    """One document as read from its text alone (see the module docstring)."""

    text: str  # markup stripped
    windows: list[list[str]]
    token_ids: list[list[int]]  # of every window sentence, in order
    rule: RuleLabels
    profanity_probability: float
    lexicon: float  # VADER's mean compound over the window sentences
    candidates: list[str]  # keyword-tag candidates
    cues: list[float]  # format.CUES, in order

    @property
    def sentences(self) -> list[str]:
        return [s for w in self.windows for s in w]


def read_texts(reader: TextReader, texts: Sequence[str]) -> list[TextReading]:
    """:class:`TextReading` of each text (what a rule worker runs on its part of a batch)."""
    from condpt_dagster.labelers.encoder import token_id_tokenizer
    from condpt_dagster.labelers.rating import profanity_probabilities

    stripped = [rules.strip_markup(t) for t in texts]
    doc_windows = [reader.windows_of(t) for t in stripped]
    sentences = [[s for w in wins for s in w] for wins in doc_windows]
    flat = [s for doc in sentences for s in doc]
    tokenizer = token_id_tokenizer(reader.model_dir)
    flat_ids = [e.ids for e in tokenizer.encode_batch(flat, add_special_tokens=True)] if flat else []
    bounds = np.cumsum([0, *(len(doc) for doc in sentences)]).tolist()
    probabilities = profanity_probabilities([rules.strip_markup(t[:RATING_SAMPLE_CHARS]) for t in stripped])
    table = _candidate_table(reader.generic_tags)
    joined = ["\n".join(doc) for doc in sentences]  # a sentence a line: tags.py drops speech prefixes opening one
    candidates = candidates_batch(joined, reader.generic_tags, reader.tag_candidates, table)
    cues = format_cues.cue_matrix(stripped).tolist()
    return [
        TextReading(
            text=text,
            windows=wins,
            token_ids=flat_ids[bounds[i] : bounds[i + 1]],
            rule=rules.rule_labels(text),
            profanity_probability=float(probabilities[i]),
            lexicon=vader_score(sentences[i]),
            candidates=candidates[i],
            cues=cues[i],
        )
        for i, (text, wins) in enumerate(zip(stripped, doc_windows, strict=True))
    ]


@lru_cache(maxsize=4)
def _candidate_table(generic: frozenset[str]) -> CandidateTable:
    """One table per process and generic-word set: what it learns of words carries from batch to batch."""
    return CandidateTable(generic)
