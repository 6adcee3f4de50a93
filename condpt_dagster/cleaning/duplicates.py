"""Which documents of a shard repeat an earlier document: exact text hashes, and MinHash LSH (datasketch) for
near-duplicates.

"Earlier" is the canonical order: every quality-passing document of a shard whose name sorts before, and the
earlier rows of the same shard. Only the current shard is indexed; each earlier document is a query against
it (a datasketch query costs half an insert, and earlier shards far outnumber the current one). A document's
match is its exact duplicate if it has one, else its most similar near-duplicate, ties to the earliest.
Documents under ``near_duplicate_min_words`` are compared exactly only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from condpt_dagster.cleaning.minhash import NearDuplicateIndex
from condpt_dagster.core.settings import CleanSettings

REASON_EXACT, REASON_NEAR = "exact_duplicate", "near_duplicate"


@dataclass
class Fingerprints:
    """One raw shard's documents: ids, exact text hashes, quality verdicts (None: passed), word counts and
    MinHash signatures (zeros where the quality filters rejected the document)."""

    ids: list[str]
    hashes: list[bytes]
    quality: list[str | None]
    words: list[int]
    signatures: np.ndarray

    def passing(self) -> list[int]:
        return [i for i, verdict in enumerate(self.quality) if verdict is None]


@dataclass(frozen=True)
class Match:
    reason: str
    shard: str  # of the earlier document
    row: int
    id: str
    similarity: float

    def rank(self) -> tuple:
        return (self.reason != REASON_EXACT, -self.similarity, self.shard, self.row)


class DuplicateFinder:
    def __init__(self, shard: str, prints: Fingerprints, options: CleanSettings) -> None:
        self.shard, self.prints, self.min_words = shard, prints, options.near_duplicate_min_words
        self.matches: dict[int, Match] = {}
        self.rows_by_hash: dict[bytes, list[int]] = defaultdict(list)
        passing = prints.passing()
        for row in passing:
            self.rows_by_hash[prints.hashes[row]].append(row)
        self.near: NearDuplicateIndex | None = None
        if options.near_duplicates:
            self.near = NearDuplicateIndex(options.num_perm, options.bands, options.similarity_threshold, options.seed)
            rows = [row for row in passing if prints.words[row] >= self.min_words]
            self.near.add_many(rows, prints.signatures[rows])

    def _offer(self, row: int, match: Match) -> None:
        if row not in self.matches or match.rank() < self.matches[row].rank():
            self.matches[row] = match

    def compare_earlier_shard(self, shard: str, prints: Fingerprints) -> int:
        """Match the current shard against an earlier shard's documents; returns how many were compared."""
        compared = 0
        for row in prints.passing():
            compared += 1
            match_for = lambda similarity, reason, r=row: Match(reason, shard, r, prints.ids[r], similarity)  # noqa: E731
            for current in self.rows_by_hash.get(prints.hashes[row], ()):
                self._offer(current, match_for(1.0, REASON_EXACT))
            if self.near is not None and prints.words[row] >= self.min_words:
                for current, similarity in self.near.matches(prints.signatures[row]):
                    self._offer(current, match_for(similarity, REASON_NEAR))
        return compared

    def compare_within(self) -> None:
        """Match each document against the earlier rows of its own shard."""
        prints = self.prints
        for row in prints.passing():
            first = self.rows_by_hash[prints.hashes[row]][0]
            if first < row:
                self._offer(row, Match(REASON_EXACT, self.shard, first, prints.ids[first], 1.0))
            if self.near is not None and prints.words[row] >= self.min_words:
                for other, similarity in self.near.matches(prints.signatures[row]):
                    if other < row:
                        self._offer(row, Match(REASON_NEAR, self.shard, other, prints.ids[other], similarity))
