"""The ``student`` labeler: the composite labeler's labels at thousands of documents per second on a CPU.

The teacher–student pattern of FineWeb-Edu, WebOrganizer and DCLM, with condpt's composite labeler as the
teacher (labelers/distill.py trains it; the ``student_labeler`` asset runs that on the user's own corpus):

- **one static embedding per document**: a model2vec model distilled from the teacher's own MiniLM encoder
  and tuned on the sample so that mean token vectors reproduce the teacher's sentence and document
  embeddings (no transformer at labeling time); a sentence is the unit mean of its tokens' vectors, the
  document the unit mean of its sentences (as the teacher reads windows);
- **the teacher's own heads** on that vector: its topic prototypes and top-topic rule, its format prototypes
  and format model with layout cues; **ridge heads fitted to the teacher's scores** for the rating score
  (then the teacher's thresholds) and the sentiment score (then the taxonomy's neutral band);
- **what stays rule-based** is the teacher's own code, made cheaper: language (a 300-character sample),
  length, readability, the rating lexicon's words (no phrase patterns), the extractive synopsis (the
  sentence nearest the document vector) and keyword tags ranked by the static embedding (tags.py).

A value the teacher gave too rarely in its sample to be checked (``min_examples``) is never emitted: the
format becomes ``unknown``, a rare rating falls back to the lexicon's, a rare topic is dropped, a rare
sentiment sign becomes ``neutral``; each such row says so in ``error``. A student whose agreement check
failed is refused here as well as in the asset check.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from condpt_dagster.core.hashing import cached_sha256, file_sha256
from condpt_dagster.labelers import format as formats
from condpt_dagster.labelers import rules
from condpt_dagster.labelers.base import EMPTY_SYNOPSIS, DocumentLabels, Labeler, one_line
from condpt_dagster.labelers.rating import RATING_TIERS, rating_from_score, tier_rates
from condpt_dagster.labelers.tags import KeywordTagger, candidates_batch
from condpt_dagster.labelers.taxonomy import Taxonomy
from condpt_dagster.labelers.word_table import WordTable

STATIC_DIR = "static"  # the model2vec model (model.safetensors, tokenizer.json, config.json)
HEADS_FILE = "heads.npz"  # every head's arrays, loaded without pickle
MANIFEST_FILE = "manifest.json"  # classes, refused values, agreement, teacher version
TAXONOMY_FILE = "taxonomy.toml"  # the teacher's taxonomy: topic names and calibration
MAX_SENTENCES = 256  # sentences read per document (the teacher reads at most 3 x 64)
_BERT_WORD = r"\w+|[^\w\s]"  # how BERT's pre-tokenizer splits: words and single punctuation marks


class StudentUnavailable(RuntimeError):
    """No usable student in the folder: untrained, or rejected by its agreement check."""


def model_files(folder: Path) -> list[Path]:
    """The files whose content is the student: its version hashes them."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def folder_sha256(folder: Path) -> str | None:
    """One hash over the student's files (each hashed once per size/mtime), None if there is no student."""
    import hashlib

    files = model_files(folder) if (folder / MANIFEST_FILE).is_file() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{cached_sha256(path)}\n".encode())
    return digest.hexdigest()


@dataclass
class Reading:
    """A batch as the student reads it: rule labels, sentences, sentence and document vectors, features."""

    texts: list[str]
    rules: list[rules.RuleLabels]
    sentences: list[list[str]]
    sentence_vecs: list[np.ndarray]
    doc_vecs: np.ndarray  # (n, dim); a zero row for a document without sentences
    cues: np.ndarray  # (n, len(format.CUES)): format.cue_matrix
    features: np.ndarray  # (n, dim + structure cues + tiers + 1): what the ridge heads read


def lexicon_features(rule: rules.RuleLabels) -> list[float]:
    """The rating lexicon's tier rates (as rating.py scales them) and the log word count."""
    return [*tier_rates(rule.hits, rule.words), float(np.log1p(rule.words))]


class StaticEncoder:
    """A model2vec static model read word by word: a word's token vectors are summed once (through the model's
    own tokenizer) and cached, so a sentence vector is a sparse sum over its words, the mean of its tokens'
    vectors as model2vec computes it, without tokenizing the same word twice. A batch's words are cut out and
    looked up in the cache (a polars table) at once."""

    def __init__(self, folder: Path, cache_words: int = 200_000) -> None:
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(folder)
        self.tokenizer = model.tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.embedding = np.asarray(model.embedding, dtype=np.float32)
        self.dim = int(self.embedding.shape[1])
        self._clear()
        self.words = WordTable({"word": pl.String, "index": pl.Int64}, self._add, cache_words, on_clear=self._clear)

    def _clear(self) -> None:
        self.word_ids: list[list[int]] = []  # each cached word's token ids (training reads them)
        self.sums = np.zeros((1024, self.dim), dtype=np.float32)  # cached word -> the sum of its token vectors
        self.counts = np.zeros(1024, dtype=np.float32)

    def _add(self, words: list[str]) -> dict[str, list]:
        start = len(self.word_ids)
        need = start + len(words)
        if need > len(self.counts):
            grow = max(need, 2 * len(self.counts))
            self.sums = np.vstack([self.sums, np.zeros((grow - len(self.counts), self.dim), np.float32)])
            self.counts = np.concatenate([self.counts, np.zeros(grow - len(self.counts), np.float32)])
        for offset, encoding in enumerate(self.tokenizer.encode_batch(words, add_special_tokens=False)):
            self.sums[start + offset] = self.embedding[encoding.ids].sum(0)
            self.counts[start + offset] = len(encoding.ids)
            self.word_ids.append(encoding.ids)
        return {"index": list(range(start, need))}

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
        ones = np.ones(len(columns), np.float32)
        matrix = csr_matrix((ones, (rows, columns)), shape=(len(texts), len(self.counts)))
        tokens = matrix @ self.counts
        vectors = (matrix @ self.sums) / np.maximum(tokens, 1.0)[:, None]
        return _unit(np.asarray(vectors, dtype=np.float32))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class Heads:
    """The fitted heads, read from ``heads.npz`` and ``manifest.json`` (no pickle anywhere)."""

    def __init__(self, folder: Path) -> None:
        self.manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        with np.load(folder / HEADS_FILE, allow_pickle=False) as arrays:
            self.arrays = {k: arrays[k].astype(np.float32) for k in arrays.files}
        self.formats: list[str] = self.manifest["classes"]["format"]
        self.topics: list[str] = self.manifest["classes"]["topics"]
        self.refused: dict[str, dict[str, int]] = self.manifest["refused"]
        spec = self.manifest["format_model"]
        self.format_model = formats.FormatModel(spec["scale"], spec["hand"], spec["fitted"])
        expected = {"structure_cues": list(formats.STRUCTURE_CUES), "rating_tiers": list(RATING_TIERS)}
        if self.manifest["features"] != expected:
            raise StudentUnavailable(f"{folder}: trained on features {self.manifest['features']}; retrain the student")

    def _standardize(self, features: np.ndarray) -> np.ndarray:
        return (features - self.arrays["feature_mean"]) / self.arrays["feature_scale"]

    def predict(self, features: np.ndarray, doc_vecs: np.ndarray) -> dict[str, np.ndarray]:
        x = self._standardize(features)
        a = self.arrays
        return {
            "topic_scores": doc_vecs @ a["topic_prototypes"].T,
            "format_similarities": doc_vecs @ a["format_prototypes"].T,
            "rating_logit": x @ a["rating_coef"] + a["rating_intercept"],
            "sentiment_atanh": x @ a["sentiment_coef"] + a["sentiment_intercept"],
        }


class StudentLabeler(Labeler):
    name = "student"
    revision = "5"  # 2: tag candidates that describe (issue 30); 3: a batch read at once in polars (words by
    # the regex crate's \w, cues and rules as before); 4: the mail_lines cue (issue 30); 5: the legal cue reads
    # licences (`legal`'s gate)
    # The batch rules pay per call (a polars plan, one join per word table): per document 512 costs 0.5-0.6x
    # of 32 and 0.65x of 128, and 2,048 little less than 512 (bench/student_batch.py; BENCHMARKS.md).
    batch_docs = 512

    def __init__(self, student_dir: str | Path, require_passed: bool = True) -> None:
        self.folder = Path(student_dir)
        self.require_passed = require_passed  # False only while distill.py measures a new student
        self._loaded_hash: str | None = None

    # ------------------------------------------------------------------------------------------ identity

    def fingerprint(self) -> dict[str, Any]:
        return {
            "student_sha256": folder_sha256(self.folder),
            "rating_rules_sha256": file_sha256(rules.RATING_RULES),  # the lexicon rules it applies
            "format_cues": [formats.REQUIRED_CUES, formats.CUE_WEIGHTS],
        }

    def version(self) -> str:
        """The student's files decide its version; a retrained student is a new version in this process too.
        Called per batch: the files are rehashed only when the manifest is another file (a retrained student
        is swapped in as a new folder) or was rewritten."""
        manifest = self.folder / MANIFEST_FILE
        stamp = (manifest.stat().st_ino, manifest.stat().st_mtime_ns) if manifest.is_file() else None
        if stamp is not None and stamp == getattr(self, "_stamp", None) and getattr(self, "_version", None):
            return self._version
        self._stamp = stamp
        current = folder_sha256(self.folder)
        if current != self._loaded_hash or getattr(self, "_version", None) is None:
            self._version = None
            self.__dict__.pop("_model", None)
            self._loaded_hash = current
        return super().version()

    @cached_property
    def _model(self) -> tuple[StaticEncoder, Heads, Taxonomy, KeywordTagger]:
        if self._loaded_hash is None:
            raise StudentUnavailable(
                f"{self.folder}: no trained student (materialize teacher_sample and student_labeler first)"
            )
        heads = Heads(self.folder)
        check = heads.manifest["agreement_check"]
        if self.require_passed and not check["passed"]:
            raise StudentUnavailable(f"{self.folder}: the student failed its agreement check: {check['summary']}")
        taxonomy = Taxonomy(self.folder / TAXONOMY_FILE)
        static = StaticEncoder(self.folder / STATIC_DIR)
        tagger = KeywordTagger(static.encode, taxonomy.generic_tags)
        return static, heads, taxonomy, tagger

    # ---------------------------------------------------------------------------------------- labelling

    def read(self, texts: Sequence[str]) -> Reading:
        self.version()  # reload if the files changed under this process
        static = self._model[0]
        return read_batch(static, texts, self._rule_tables)

    @cached_property
    def _rule_tables(self) -> rules.RuleTables:
        return rules.RuleTables()  # the lexicon and syllables of the words met so far (not the student's files)

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        if not texts:
            return []
        reading = self.read(texts)
        _, heads, taxonomy, tagger = self._model
        predicted = heads.predict(reading.features, reading.doc_vecs)
        predicted["format_scores"] = heads.format_model.score_matrix(
            heads.formats, predicted["format_similarities"], reading.cues
        )
        out = []
        for i, text in enumerate(reading.texts):
            labels = self._rules(reading.rules[i], heads, float(predicted["rating_logit"][i]))
            if not reading.sentences[i]:
                labels.error = "no sentences with letters; student labels skipped"
                labels.synopsis = one_line(text) or EMPTY_SYNOPSIS
                labels.scores["sentiment"] = 0.0
            else:
                predictions = {k: v[i] for k, v in predicted.items()}
                refusals = self._fields(labels, heads, taxonomy, predictions, reading.cues[i])
                self._synopsis(labels, reading.sentences[i], reading.sentence_vecs[i], reading.doc_vecs[i])
                if refusals:
                    labels.error = "student: " + "; ".join(refusals)
            out.append(labels)
        self._tags(out, reading, tagger)
        return out

    def _rules(self, rule: rules.RuleLabels, heads: Heads, rating_logit: float) -> DocumentLabels:
        score = float(1 / (1 + np.exp(-rating_logit)))
        rating = rating_from_score(score, heads.manifest["rating_thresholds"], rule.rating)
        if rating in heads.refused["rating"] and rating != rule.rating:
            rating = rule.rating  # never learned that rating well enough: the teacher's rule decides
        return DocumentLabels(
            tags=[],
            topics=[],
            rating=rating,
            sfw=rule.sfw and rating != "R",
            sentiment="neutral",
            language=rule.language,
            synopsis=EMPTY_SYNOPSIS,  # the central sentence (_synopsis), or the text's opening (no sentences)
            length=rule.length,
            readability=rule.readability,
            scores={"language": rule.language_score, "rating": round(score, 4)},
        )

    def _fields(
        self, labels: DocumentLabels, heads: Heads, taxonomy: Taxonomy, p: dict[str, Any], cues: np.ndarray
    ) -> list[str]:
        """format, topics and sentiment from the heads; the refusals, one phrase each."""
        refusals = []
        scores = dict(zip(heads.formats, p["format_scores"].tolist(), strict=True))
        best = max(scores, key=scores.__getitem__)
        cue_rates = dict(zip(formats.CUES, cues.tolist(), strict=True))
        labels.scores.update(formats.evidence(heads.format_model, scores, cue_rates, best))
        if best in heads.refused["format"]:
            refusals.append(f"format {best} too rare in the teacher sample: unknown")
            best = "unknown"
        labels.format = best
        topic_scores = p["topic_scores"]
        for name, score in zip(heads.topics, topic_scores.tolist(), strict=True):
            labels.scores[f"topic:{name}"] = round(score, 4)
        ranked = sorted(zip(heads.topics, topic_scores.tolist(), strict=True), key=lambda kv: -kv[1])
        top = ranked[0][1]
        kept = [n for n, s in ranked if s >= taxonomy.min_score and s >= top - taxonomy.margin][: taxonomy.max_topics]
        labels.topics = [n for n in kept if n not in heads.refused["topics"]]
        if len(labels.topics) < len(kept):
            refusals.append("a topic too rare in the teacher sample was dropped")
        score = float(np.tanh(p["sentiment_atanh"]))
        band = taxonomy.neutral_band
        labels.sentiment = "positive" if score > band else "negative" if score < -band else "neutral"
        if labels.sentiment in heads.refused["sentiment"]:
            refusals.append(f"sentiment {labels.sentiment} too rare in the teacher sample: neutral")
            labels.sentiment = "neutral"
        labels.scores["sentiment"] = round(score, 4)
        return refusals

    def _synopsis(self, labels: DocumentLabels, sentences: list[str], vecs: np.ndarray, doc: np.ndarray) -> None:
        central = int((vecs @ doc).argmax())
        labels.synopsis = one_line(sentences[central]) or EMPTY_SYNOPSIS
        labels.scores["synopsis"] = round(float(vecs[central] @ doc), 4)

    def _tags(self, out: list[DocumentLabels], reading: Reading, tagger: KeywordTagger) -> None:
        texts = [" ".join(s) for s in reading.sentences]
        candidates = candidates_batch(texts, tagger.generic, tagger.candidates, tagger.candidate_table)
        tagger.embed(c for cands in candidates for c in cands)
        for labels, keywords in zip(out, tagger.select_batch(reading.doc_vecs, candidates, 10), strict=True):
            labels.tags = [t for t, _ in keywords]
            labels.scores.update({f"tag:{t}": round(s, 4) for t, s in keywords})


LANGUAGE_CHARS = 300  # the opening the student's language identification reads (the teacher: 1,000)


def read_batch(static: StaticEncoder, texts: Sequence[str], tables: rules.RuleTables | None = None) -> Reading:
    """Everything the heads and the rules need from a batch: rule labels with the cheap rules (no rating
    phrases, a short language sample), structure cues and one sparse product for every sentence vector."""
    clean = [rules.strip_markup(t) for t in texts]
    sentences = [doc[:MAX_SENTENCES] for doc in rules.split_sentences_batch(clean)]
    vecs = static.encode([s for doc in sentences for s in doc])
    bounds = np.cumsum([0, *(len(doc) for doc in sentences)])
    sentence_vecs = [vecs[a:b] for a, b in itertools.pairwise(bounds)]
    doc_vecs = np.stack(
        [_unit(v.mean(0)) if len(v) else np.zeros(static.dim, np.float32) for v in sentence_vecs]
    ).astype(np.float32)
    rule_labels = rules.rule_labels_batch(clean, language_chars=LANGUAGE_CHARS, tables=tables)
    cues = formats.cue_matrix(clean)
    structure = cues[:, : len(formats.STRUCTURE_CUES)].astype(np.float32)  # CUES starts with STRUCTURE_CUES
    lexicon = np.array([lexicon_features(r) for r in rule_labels], np.float32).reshape(len(clean), -1)
    features = np.hstack([doc_vecs, structure, lexicon])
    return Reading(clean, rule_labels, sentences, sentence_vecs, doc_vecs, cues, features)
