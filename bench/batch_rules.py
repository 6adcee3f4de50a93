"""The student's batch rules against the teacher's per-document rules, side by side on the same documents.

    python -m bench.batch_rules [--docs 2000] [--batch 256]

Sample-corpus documents (``condpt sample``'s sources, as the pipeline normalizes them), each rule run per
document (Python's re, the teacher's code) and per batch (polars / numpy, what the student runs), first on
documents never seen (every cache cold for their words) and then again (warm). Outputs are compared and must
be equal; ms per document and the ratio are printed. The layout cues have no per-document version left in
the package: their batch cost is printed alone (tests/labelers/test_format_cues.py checks them against the
first Python version).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path

from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.labelers import rules, tags
from condpt_dagster.labelers.format_cues import cue_matrix
from condpt_dagster.labelers.language import languages_of
from condpt_dagster.labelers.tags import candidates_batch, candidates_of
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy
from condpt_dagster.sample_corpus import sample_documents
from condpt_dagster.stages.raw_documents import normalize_texts

WHEELS = Path("data/sample_wheels")


def clear_word_caches() -> None:
    """Forget every word the rules have met (syllables, lemmas, parts of speech, lexicon tiers): cold start."""
    rules.syllables.cache_clear()
    tags.lemma.cache_clear()
    tags.parts_of_speech.cache_clear()
    tags.modern_spellings.cache_clear()
    rules.RatingRules.load()._tiers_of.clear()


def batched(fn: Callable[[list[str]], list], size: int) -> Callable[[list[str]], list]:
    return lambda texts: [row for i in range(0, len(texts), size) for row in fn(texts[i : i + size])]


def timed(fn: Callable[[list[str]], list], texts: list[str]) -> tuple[list, float]:
    start = time.perf_counter()
    out = fn(texts)
    return out, 1000 * (time.perf_counter() - start) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--wheels", type=Path, default=WHEELS, help="condpt sample's downloaded wheels")
    args = parser.parse_args()
    texts = [
        t
        for t in normalize_texts([d["text"] for d in sample_documents(args.wheels, args.docs, 3)], IngestSettings())
        if t
    ]
    generic = Taxonomy(TAXONOMY).generic_tags
    samples = [rules.strip_markup(t[:300]) for t in texts]
    letters = [bool(rules._HAS_LETTER.search(s)) for s in samples]
    pairs = {
        "rule labels (language 300 chars, no phrases)": (
            lambda ts: [rules.rule_labels(t, phrases=False, language_chars=300) for t in ts],
            batched(lambda ts: rules.rule_labels_batch(ts, language_chars=300), args.batch),
        ),
        "language only": (
            lambda ts: [rules.language_of(t, 300) for t in ts],
            lambda ts: languages_of(samples, letters),
        ),
        "sentence split": (
            lambda ts: [rules.split_sentences(t) for t in ts],
            batched(rules.split_sentences_batch, args.batch),
        ),
        "tag candidates": (
            lambda ts: [candidates_of(t, generic) for t in ts],
            batched(lambda ts: candidates_batch(ts, generic), args.batch),
        ),
    }
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} documents, {words:.0f} words on average, batches of {args.batch}")
    for name, (per_document, per_batch) in pairs.items():
        for state in ("cold", "warm"):
            if state == "cold":
                clear_word_caches()
            python, python_ms = timed(per_document, texts)
            if state == "cold":
                clear_word_caches()
            batch, batch_ms = timed(per_batch, texts)
            if python != batch:
                raise SystemExit(f"{name}: the batch version differs from the per-document one")
            ratio = python_ms / batch_ms
            print(f"{name:45s} {state}: per document {python_ms:.3f}, batch {batch_ms:.3f} ms/doc ({ratio:.1f}x)")
    _, cue_ms = timed(batched(cue_matrix, args.batch), texts)
    print(f"{'layout cues (batch only)':45s}: {cue_ms:.3f} ms/doc")
    print_abbreviation_cost(texts, args.batch)


# The sentence break before abbreviations ended none (composite revision 17): what that rule costs.
_PLAIN_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def print_abbreviation_cost(texts: list[str], size: int) -> None:
    import polars as pl

    def plain(text: str) -> list[str]:
        return [s.strip() for s in _PLAIN_BREAK.split(text) if s and rules._HAS_LETTER.search(s)]

    def now(text: str) -> list[str]:
        return rules.split_sentences(text)

    plain_ms, now_ms = timed(lambda ts: list(map(plain, ts)), texts)[1], timed(lambda ts: list(map(now, ts)), texts)[1]
    print(f"sentence split per document: {now_ms:.3f} ms/doc, {plain_ms:.3f} with rev. 17's pattern "
          f"({now_ms / plain_ms:.2f}x)")  # fmt: skip
    whole_ms = timed(batched(rules.split_sentences_batch, size), texts)[1]
    passes_ms = timed(batched(lambda ts: rules.kept_periods(pl.Series(ts)).to_list(), size), texts)[1]
    print(f"sentence split batch: {whole_ms:.3f} ms/doc, of which the abbreviation passes {passes_ms:.3f} "
          f"({passes_ms / whole_ms:.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
