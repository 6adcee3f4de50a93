"""Per-word values computed once per process, joined onto a whole batch's words in polars.

The student's batch rules need, for every word of a batch, something that only Python computes: a lemma and
whether it can be a tag (simplemma, lemminflect), a syllable count (pyphen), the rating lexicon's tiers. A
long-running labeler meets the same words again and again, so each word is computed the first time it is
met and kept in a polars table; a batch joins its words onto that table once (a hash join) instead of
calling Python once per distinct word per batch. A table may start from a ``base`` (the words a student
met on its teacher sample, labelers/student_words.py), which it keeps. The words added past the base start
again past ``max_words``: values are recomputed identically, so neither changes labels, only speed.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


class WordTable:
    """``compute(new words) -> {column: values}``, kept per word. ``schema`` names the key column first; the
    values are never null."""

    def __init__(
        self,
        schema: dict[str, pl.DataType],
        compute: Callable[[list[str]], dict[str, list]],
        max_words: int = 200_000,
        on_clear: Callable[[], None] | None = None,
        base: pl.DataFrame | None = None,
    ) -> None:
        self.schema = pl.Schema(schema)
        self.key, self.value = list(self.schema)[:2]
        self.compute = compute
        self.max_words = max_words
        self.on_clear = on_clear
        self.base = pl.DataFrame(schema=self.schema) if base is None else base.select(self.schema.names())
        if self.base.schema != self.schema or self.base[self.key].n_unique() != self.base.height:
            raise ValueError(f"a word table's base must have the schema {dict(self.schema)} and unique words")
        self.table = self.base

    def __len__(self) -> int:
        return self.table.height

    def clear(self) -> None:
        """Forget every word added past the base."""
        self.table = self.base
        if self.on_clear is not None:
            self.on_clear()

    def lookup(self, words: pl.DataFrame) -> pl.DataFrame:
        """``words`` (with the key column, no nulls) and every kept column, rows in order; new words first
        computed and kept."""
        found = words.join(self.table, on=self.key, how="left", maintain_order="left")
        new = self._missing(found)
        if not new:
            return found
        if self.table.height - self.base.height + len(new) > self.max_words:
            self.clear()
            new = self._missing(words.join(self.table, on=self.key, how="left", maintain_order="left"))
        added = pl.DataFrame({self.key: new, **self.compute(new)}, schema=self.schema)
        self.table = pl.concat([self.table, added], rechunk=True)  # one chunk: the join stays one hash table
        return words.join(self.table, on=self.key, how="left", maintain_order="left")

    def _missing(self, found: pl.DataFrame) -> list[str]:
        return found.filter(pl.col(self.value).is_null())[self.key].unique(maintain_order=True).to_list()
