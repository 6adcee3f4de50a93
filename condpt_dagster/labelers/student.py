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
from condpt_dagster.labelers import format_cues, rules, student_words
from condpt_dagster.labelers.base import EMPTY_SYNOPSIS, DocumentLabels, Labeler, one_line
from condpt_dagster.labelers.language import languages_of
from condpt_dagster.labelers.rating import RATING_TIERS, rating_from_score, tier_rates
from condpt_dagster.labelers.static_encoder import StaticEncoder, unit
from condpt_dagster.labelers.tags import KeywordTagger, candidates_batch
from condpt_dagster.labelers.taxonomy import Taxonomy

STATIC_DIR = "static"  # the model2vec model (model.safetensors, tokenizer.json, config.json)
HEADS_FILE = "heads.npz"  # every head's arrays, loaded without pickle
MANIFEST_FILE = "manifest.json"  # classes, refused values, agreement, teacher version
TAXONOMY_FILE = "taxonomy.toml"  # the teacher's taxonomy: topic names and calibration
MAX_SENTENCES = 256  # sentences read per document (the teacher reads at most 3 x 64)


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


def keep_format_head(arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The teacher's second opinion on format (label_heads.json's ``format_embedding``), kept with a student so
    that it reranks as the teacher does, on its own document vector: the weights go into ``arrays`` (heads.npz),
    the formats and the weight are returned for the manifest (None: the teacher has none)."""
    head = formats.FormatEmbeddingHead.load()
    if head is None:
        return None
    arrays["format_embedding_coef"], arrays["format_embedding_intercept"] = head.coef, head.intercept
    return {"formats": list(head.formats), "beta": head.beta}


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
        self.format_head = self._format_head(folder, self.manifest.get("format_embedding"))
        expected = {"structure_cues": list(format_cues.STRUCTURE_CUES), "rating_tiers": list(RATING_TIERS)}
        if self.manifest["features"] != expected:
            raise StudentUnavailable(f"{folder}: trained on features {self.manifest['features']}; retrain the student")

    def _format_head(self, folder: Path, spec: dict[str, Any] | None) -> formats.FormatEmbeddingHead | None:
        """The teacher's second opinion on format, if it had one when the student was trained (a student from
        before it has none, and chooses as its teacher then did)."""
        if spec is None:
            return None
        if not {"format_embedding_coef", "format_embedding_intercept"} <= self.arrays.keys():
            raise StudentUnavailable(f"{folder}: {MANIFEST_FILE} names a format_embedding head, {HEADS_FILE} lacks it")
        coef, intercept = self.arrays["format_embedding_coef"], self.arrays["format_embedding_intercept"]
        return formats.FormatEmbeddingHead(tuple(spec["formats"]), coef, intercept, float(spec["beta"]))

    def format_scores(self, similarities: np.ndarray, cues: np.ndarray, doc_vecs: np.ndarray) -> np.ndarray:
        """n x ``formats`` scores as the teacher's ``best_format`` makes them: the format model, then the second
        opinion of the document vector."""
        scores = self.format_model.score_matrix(self.formats, similarities, cues)
        return scores if self.format_head is None else self.format_head.rerank(self.formats, scores, doc_vecs)

    def _standardize(self, features: np.ndarray) -> np.ndarray:
        return (features - self.arrays["feature_mean"]) / self.arrays["feature_scale"]

    def predict(self, features: np.ndarray, doc_vecs: np.ndarray) -> dict[str, np.ndarray]:
        x = self._standardize(features)
        a = self.arrays
        predicted = {
            "topic_scores": doc_vecs @ a["topic_prototypes"].T,
            "format_similarities": doc_vecs @ a["format_prototypes"].T,
            "rating_logit": x @ a["rating_coef"] + a["rating_intercept"],
            "sentiment_atanh": x @ a["sentiment_coef"] + a["sentiment_intercept"],
        }
        if "sentiment_factual_coef" in a:  # the teacher's lexicon-only score of factual formats
            predicted["sentiment_factual_atanh"] = x @ a["sentiment_factual_coef"] + a["sentiment_factual_intercept"]
        return predicted


class StudentLabeler(Labeler):
    name = "student"
    revision = "12"  # 2: tag candidates that describe (issue 30); 3: a batch read at once in polars (words by
    # the regex crate's \w, cues and rules as before); 4: the mail_lines cue (issue 30); 5: the legal cue reads
    # licences (`legal`'s gate); 6: static vectors summed in text order (they had depended, in the last bit, on
    # the order in which the process had met the words); 7: the teacher's neutral band and a
    # sentiment head of its own for factual formats; 8: `code` only with code evidence, `personal-blog` only in
    # the first person (format.REQUIRED_CUES); 9: the teacher's second opinion on format (its format_embedding
    # head, kept in the student's files) on the student's own document vector; 10: the teacher's speaker turns
    # (a recurring name, a play's turns) and verse lines (composite revision 16); 11: the teacher's tag words
    # (old spellings, speech prefixes: composite revision 17); 12: the teacher's sentences (abbreviations end
    # none: composite revision 18)
    # The batch rules pay per call (a polars plan, one join per word table): per document 512 costs 0.5-0.6x
    # of 32 and 0.65x of 128, and 2,048 little less than 512 (bench/student_batch.py; BENCHMARKS.md).
    batch_docs = 512

    def __init__(self, student_dir: str | Path, require_passed: bool = True, threads: int | None = None) -> None:
        self.folder = Path(student_dir)
        # numpy's BLAS threads while labelling: the student runs one process per core, and BLAS's default of one
        # thread per core made two processes fight over two cores (1.2-1.27x slower; BENCHMARKS.md, issue 29)
        self.threads = threads or 1
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
    def _model(self) -> tuple[StaticEncoder, Heads, Taxonomy, KeywordTagger, rules.RuleTables]:
        if self._loaded_hash is None:
            raise StudentUnavailable(
                f"{self.folder}: no trained student (materialize teacher_sample and student_labeler first)"
            )
        heads = Heads(self.folder)
        check = heads.manifest["agreement_check"]
        if self.require_passed and not check["passed"]:
            raise StudentUnavailable(f"{self.folder}: the student failed its agreement check: {check['summary']}")
        taxonomy = Taxonomy(self.folder / TAXONOMY_FILE)
        try:  # the words the student met on its teacher sample: every process starts with them
            words = student_words.load(self.folder / student_words.WORDS_DIR, taxonomy.generic_tags)
            static = StaticEncoder(self.folder / STATIC_DIR, base=words.get("static"))
            tagger = KeywordTagger(static.encode, taxonomy.generic_tags, candidate_base=words.get("candidates"))
            tables = rules.RuleTables(base=words)
            tagger.candidate_table  # noqa: B018 - built now, so that a broken table fails here
            student_words.load_word_functions()
            languages_of(["Loaded now."], [True])  # py3langid's model (~0.8 s): here, not in the first batch
        except (ValueError, pl.exceptions.PolarsError) as err:
            raise StudentUnavailable(f"{self.folder}: its word tables are unusable: {err}") from err
        return static, heads, taxonomy, tagger, tables

    def load(self) -> None:
        """Load the student now: its files, its word tables and everything its rules read with, so that the
        first batch costs what every batch costs (one ~1.5-2.5 s load per process)."""
        self.version()
        self._model  # noqa: B018

    def save_words(self) -> None:
        """Keep the words this labeler has met (its teacher sample, at training) in the student's folder."""
        static, _, taxonomy, tagger, tables = self._model
        frames = {"static": static.export(), "candidates": tagger.candidate_table.export(), **tables.export()}
        student_words.save(self.folder / student_words.WORDS_DIR, frames, taxonomy.generic_tags)

    # ---------------------------------------------------------------------------------------- labelling

    def read(self, texts: Sequence[str]) -> Reading:
        self.version()  # reload if the files changed under this process
        static, *_, tables = self._model
        return read_batch(static, texts, tables)

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        from threadpoolctl import threadpool_limits

        if not texts:
            return []
        with threadpool_limits(self.threads, user_api="blas"):
            return self._label(texts)

    def _label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        reading = self.read(texts)
        _, heads, taxonomy, tagger, _ = self._model
        predicted = heads.predict(reading.features, reading.doc_vecs)
        predicted["format_scores"] = heads.format_scores(
            predicted["format_similarities"], reading.cues, reading.doc_vecs
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
        cue_rates = dict(zip(format_cues.CUES, cues.tolist(), strict=True))
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
        factual = labels.format in taxonomy.factual_formats and "sentiment_factual_atanh" in p
        score = float(np.tanh(p["sentiment_factual_atanh" if factual else "sentiment_atanh"]))
        labels.sentiment = taxonomy.sentiment_label(score, labels.format)  # the teacher's band for that format
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
        texts = ["\n".join(s) for s in reading.sentences]  # as the teacher's text_reading joins them
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
        [unit(v.mean(0)) if len(v) else np.zeros(static.dim, np.float32) for v in sentence_vecs]
    ).astype(np.float32)
    rule_labels = rules.rule_labels_batch(clean, language_chars=LANGUAGE_CHARS, tables=tables)
    cues = format_cues.cue_matrix(clean)
    structure = cues[:, : len(format_cues.STRUCTURE_CUES)].astype(np.float32)  # CUES starts with STRUCTURE_CUES
    lexicon = np.array([lexicon_features(r) for r in rule_labels], np.float32).reshape(len(clean), -1)
    features = np.hstack([doc_vecs, structure, lexicon])
    return Reading(clean, rule_labels, sentences, sentence_vecs, doc_vecs, cues, features)
