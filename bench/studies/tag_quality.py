"""How well keyword tags describe their documents (issue 30), for bench/studies/label_quality.py and the tag study.

- retrieval: for each document, BM25 (rank_bm25's Okapi BM25) over ``pool`` random documents of the same
  source, queried with the document's tags; top-1 accuracy = the share of documents ranked first, alone,
  among their peers (a document without tags counts as a miss).
- spread: the share of documents carrying the most frequent tag (a tag on every other document says little).
- generic share: the share of emitted tags that are generic, i.e. used on documents of at least half of the
  sources (at least 3) of a mixed set: a tag that fits reviews, news, novels and manuals alike says nothing.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z]+(?:-[a-zA-Z]+)*\b")


def _lemmas(text: str) -> list[str]:
    from condpt_dagster.labelers.tags import lemma

    return [lemma(w) for w in _WORD.findall(text.lower())]


def retrieval_top1(tags: Sequence[Sequence[str]], texts: Sequence[str], pool: int = 100, seed: int = 0) -> float:
    """Top-1 BM25 retrieval accuracy of documents by their tags among ``pool`` random peers (one source)."""
    from rank_bm25 import BM25Okapi

    order = random.Random(seed).sample(range(len(texts)), min(pool, len(texts)))
    index = BM25Okapi([_lemmas(texts[i]) or ["<empty>"] for i in order])
    hits = 0
    for position, doc in enumerate(order):
        query = [w for tag in tags[doc] for w in _lemmas(tag)]
        if not query:
            continue
        scores = index.get_scores(query)
        best = scores.max()
        hits += bool(scores[position] == best and (scores == best).sum() == 1)
    return hits / len(order)


def spread(tags: Sequence[Sequence[str]]) -> tuple[str, float]:
    """The most frequent tag and the share of documents that carry it (ties: the first by name)."""
    counts = Counter(t for row in tags for t in set(row))
    if not counts:
        return "", 0.0
    tag, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: the first by name, not by hash order
    return tag, n / len(tags)


def generic_tags(tags: Sequence[Sequence[str]], sources: Sequence[str]) -> set[str]:
    """Tags used on documents of at least half of the sources (and at least 3)."""
    seen_in: dict[str, set[str]] = defaultdict(set)
    for row, source in zip(tags, sources, strict=True):
        for tag in row:
            seen_in[tag].add(source)
    needed = max(3, -(-len(set(sources)) // 2))
    return {tag for tag, where in seen_in.items() if len(where) >= needed}


def generic_share(tags: Sequence[Sequence[str]], generic: set[str]) -> float:
    """Share of emitted tags that are in ``generic``."""
    emitted = [t for row in tags for t in row]
    return float(np.mean([t in generic for t in emitted])) if emitted else 0.0


def by_source(tags: Sequence[Sequence[str]], texts: Sequence[str], sources: Sequence[str]) -> dict[str, dict]:
    """retrieval top-1, the most frequent tag and its share, the generic share and tags per document, per source."""
    generic = generic_tags(tags, sources)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, source in enumerate(sources):
        groups[source].append(i)
    out = {}
    for source, idx in sorted(groups.items()):
        rows = [tags[i] for i in idx]
        top, share = spread(rows)
        out[source] = {
            "docs": len(idx),
            "retrieval_top1": round(retrieval_top1(rows, [texts[i] for i in idx]), 3),
            "top_tag": top,
            "top_tag_share": round(share, 3),
            "generic_share": round(generic_share(rows, generic), 3),
            "tags_per_doc": round(float(np.mean([len(r) for r in rows])), 2),
        }
    return out
