"""Near-duplicate detection with datasketch: MinHash signatures of word shingles and an LSH index.

A signature is ``num_perm`` uint32 minima (datasketch's ``affine32`` scheme over 32-bit xxHash values of the
shingles: ten times faster than its default SHA-1, with the same distribution after datasketch's premix) over
the set of ``shingle_words``-word shingles of the lowercased text; the share of equal minima between two
signatures estimates the Jaccard similarity of their shingle sets. :class:`NearDuplicateIndex` finds, for a
new signature, the most similar indexed one whose estimate reaches the threshold, among the LSH candidates
(``bands`` bands of ``num_perm / bands`` rows).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xxhash

if TYPE_CHECKING:
    from datasketch import LeanMinHash

SCHEME = "affine32"
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int) -> set[bytes]:
    """The set of ``n``-word shingles of a text (a text shorter than ``n`` words is one shingle)."""
    words = _WORD.findall(text.lower())
    if len(words) <= n:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class MinHasher:
    num_perm: int
    shingle_words: int
    seed: int = 1

    def signatures(self, texts: Iterable[str]) -> np.ndarray:
        """One signature row per text, shape ``(len(texts), num_perm)``, dtype uint32."""
        from datasketch import MinHash  # 0.4 s to import: loaded when documents are hashed

        sets = (shingles(text, self.shingle_words) for text in texts)
        sketches = MinHash.generator(
            sets, num_perm=self.num_perm, seed=self.seed, scheme=SCHEME, hashfunc=xxhash.xxh32_intdigest
        )
        rows = [m.hashvalues for m in sketches]
        return np.vstack(rows) if rows else np.empty((0, self.num_perm), dtype=np.uint32)


class NearDuplicateIndex:
    """Signatures of accepted documents, queried for the most similar one at or above ``threshold``."""

    def __init__(self, num_perm: int, bands: int, threshold: float, seed: int = 1) -> None:
        self.num_perm, self.threshold, self.seed = num_perm, threshold, seed
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(num_perm=num_perm, params=(bands, num_perm // bands))
        self._signatures: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def _sketch(self, signature: np.ndarray) -> LeanMinHash:
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=signature, scheme=SCHEME)

    def add_many(self, keys: Iterable[Hashable], signatures: np.ndarray) -> None:
        with self._lsh.insertion_session() as session:
            for key, signature in zip(keys, signatures, strict=True):
                session.insert(key, self._sketch(signature), check_duplication=False)
                self._signatures[key] = signature

    def matches(self, signature: np.ndarray) -> list[tuple[Hashable, float]]:
        """Every indexed key whose estimated Jaccard with ``signature`` reaches the threshold."""
        candidates = self._lsh.query(self._sketch(signature))
        if not candidates:
            return []
        similarities = (np.array([self._signatures[key] for key in candidates]) == signature).mean(axis=1)
        return [(key, float(s)) for key, s in zip(candidates, similarities, strict=True) if s >= self.threshold]

    def best_match(self, signature: np.ndarray) -> tuple[Hashable, float] | None:
        """The indexed key most similar to ``signature`` (ties: the smallest key), if it reaches the threshold."""
        found = self.matches(signature)
        return min(found, key=lambda match: (-match[1], match[0])) if found else None
