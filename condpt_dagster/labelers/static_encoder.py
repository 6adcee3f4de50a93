"""The student's static embedding (labelers/student.py): a model2vec model read word by word, each word's
token vectors summed once per process (or once per student: ``base``, labelers/student_words.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from condpt_dagster.labelers.word_table import WordTable

_BERT_WORD = r"\w+|[^\w\s]"  # how BERT's pre-tokenizer splits: words and single punctuation marks


class StaticEncoder:
    """A model2vec static model read word by word: a word's token vectors are summed once (through the model's
    own tokenizer) and cached, so a sentence vector is a sparse sum over its words, the mean of its tokens'
    vectors as model2vec computes it, without tokenizing the same word twice. A batch's words are cut out and
    looked up in the cache (a polars table) at once. ``base`` (word, ids), as :meth:`export` writes it: words
    whose token ids are known already (kept from the start)."""

    def __init__(self, folder: Path, cache_words: int = 200_000, base: pl.DataFrame | None = None) -> None:
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(folder)
        self.tokenizer = model.tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.embedding = np.asarray(model.embedding, dtype=np.float32)
        self.dim = int(self.embedding.shape[1])
        self.word_ids: list[list[int]] = []  # each cached word's token ids (training reads them)
        self.sums = np.zeros((1024, self.dim), dtype=np.float32)  # cached word -> the sum of its token vectors
        self.counts = np.zeros(1024, dtype=np.float32)
        start = None
        if base is not None:
            flat = base["ids"].explode().drop_nulls()
            if len(flat) and (flat.min() < 0 or flat.max() >= len(self.embedding)):
                raise ValueError(f"{folder}: a base word's token id is outside the vocabulary")
            start = pl.DataFrame(
                {"word": base["word"], "index": self._store(base["ids"].to_list())}, schema=self.SCHEMA
            )
        self._base_words = len(self.word_ids)
        self.words = WordTable(self.SCHEMA, self._add, cache_words, on_clear=self._clear, base=start)

    SCHEMA = pl.Schema({"word": pl.String, "index": pl.Int64})

    def export(self) -> pl.DataFrame:
        """Every word met so far and its token ids."""
        ids = pl.Series("ids", self.word_ids, pl.List(pl.Int32)).gather(self.words.table["index"])
        return self.words.table.select("word", ids)

    def _clear(self) -> None:
        del self.word_ids[self._base_words :]  # the rows past the base are overwritten as words come

    def _add(self, words: list[str]) -> dict[str, list]:
        encodings = self.tokenizer.encode_batch(words, add_special_tokens=False)
        return {"index": self._store([e.ids for e in encodings])}

    def _store(self, ids: list[list[int]]) -> list[int]:
        """Cache the sum and count of each word's token vectors; their rows. Words of one length are summed in
        one gather, each exactly as ``embedding[ids].sum(0)`` adds its rows (in order)."""
        start = len(self.word_ids)
        need = start + len(ids)
        if need > len(self.counts):  # room for half as many words again: a saved base is ~50,000 x 384 floats
            sums = np.empty((max(need + need // 2, 2 * len(self.counts)), self.dim), np.float32)
            sums[:start] = self.sums[:start]  # rows past the words are never read
            counts = np.zeros(len(sums), np.float32)
            counts[:start] = self.counts[:start]
            self.sums, self.counts = sums, counts
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        rows = start + np.arange(len(ids))
        for length in np.unique(lengths).tolist():
            picked = np.flatnonzero(lengths == length)
            matrix = np.array([ids[j] for j in picked.tolist()], dtype=np.int64).reshape(len(picked), length)
            self.sums[rows[picked]] = self.embedding[matrix].sum(1) if length else 0.0
        self.counts[start:need] = lengths
        self.word_ids.extend(ids)
        return list(range(start, need))

    def _words(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text, cached word) index pairs, one per word of each text in order; new words are cached first."""
        words = (
            pl.DataFrame({"text": list(texts)}, schema={"text": pl.String})
            .select(row=pl.int_range(pl.len(), dtype=pl.Int64), word=pl.col("text").str.extract_all(_BERT_WORD))
            .explode("word")
            .drop_nulls("word")
            .with_columns(pl.col("word").str.to_lowercase())
        )
        found = self.words.lookup(words)  # sums are recomputed identically: the cache changes speed, never vectors
        return found["row"].to_numpy(), found["index"].to_numpy()

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokens each text's vector averages, as :meth:`encode` reads them (for fine-tuning)."""
        rows, columns = self._words(texts)
        out: list[list[int]] = [[] for _ in texts]
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            out[row].extend(self.word_ids[column])
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x dim`` unit vectors (zero rows for texts without words)."""
        from scipy.sparse import csr_matrix

        rows, columns = self._words(texts)
        # One entry per word in text order (rows ascend), never sorted by column: each vector is summed in
        # the order of its text, not in the order its words were first met, so it never depends on what the
        # process read before (or on a saved word table's order).
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(texts)))])
        ones = np.ones(len(columns), np.float32)
        matrix = csr_matrix((ones, columns, indptr), shape=(len(texts), len(self.counts)))
        tokens = matrix @ self.counts
        vectors = (matrix @ self.sums) / np.maximum(tokens, 1.0)[:, None]
        return unit(np.asarray(vectors, dtype=np.float32))


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
