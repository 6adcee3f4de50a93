"""The student labeler: distilled from teacher rows, the label schema, refusals, the agreement gate, versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from condpt_dagster.labelers.base import LABEL_SCHEMA
from condpt_dagster.labelers.distill import DistillSettings, TeacherReads, train_student
from condpt_dagster.labelers.encoder import default_model_dir
from condpt_dagster.labelers.format import FormatEmbeddingHead
from condpt_dagster.labelers.student import HEADS_FILE, MANIFEST_FILE, StudentLabeler, StudentUnavailable
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy
from condpt_dagster.stages.document_labels import label_rows


@pytest.fixture(scope="module")
def taught(sample_wheels) -> dict:
    """300 sample documents labelled and read by the real teacher (the composite labeler), once per module."""
    from condpt_dagster.core.settings import IngestSettings
    from condpt_dagster.labelers.composite import CompositeLabeler
    from condpt_dagster.sample_corpus import sample_documents
    from condpt_dagster.stages.raw_documents import normalize_texts

    docs = sample_documents(sample_wheels, 300, seed=21)
    texts = normalize_texts([d["text"] for d in docs], IngestSettings())
    teacher = CompositeLabeler()
    labels, reads = [], []
    for i in range(0, len(texts), 50):
        batch_labels, batch_reads = teacher.label_and_read(texts[i : i + 50])
        labels += batch_labels
        reads += batch_reads
    ids = [d["id"] for d in docs]
    rows = label_rows(ids, labels, teacher, teacher.version()).to_pylist()
    dim = teacher.encoder.dim
    teacher_reads = TeacherReads(
        [r.sentences for r in reads],
        np.vstack([r.sentence_vecs for r in reads]).reshape(-1, dim),
        np.stack([r.vector if r.vector is not None else np.zeros(dim) for r in reads]),
        teacher._topic_matrix,
        teacher._format_matrix,
    )
    about = {
        "labeler": "composite",
        "labeler_version": teacher.version(),
        "encoder_dir": str(default_model_dir()),
        "taxonomy_path": str(TAXONOMY),
    }
    return {"ids": ids, "texts": texts, "rows": rows, "reads": teacher_reads, "about": about}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("student")  # one static-model cache for the module: distilled once


def train(taught: dict, folder: Path, **options):
    defaults = {"min_agreement": 0.5, "min_sentiment_agreement": 0.5, "min_examples": 5, "epochs": 3}
    return train_student(
        taught["ids"],
        taught["texts"],
        taught["rows"],
        taught["reads"],
        taught["about"],
        folder,
        DistillSettings(**defaults | options),
    )


def test_student_learns_the_teacher_and_writes_label_rows(taught, workdir):
    report = train(taught, workdir / "model")
    assert report.passed and report.published == workdir / "model", report.summary
    assert report.train_docs + report.holdout_docs == 300 and report.holdout_docs > 30
    assert report.agreement["top_topic"] >= 0.4 and report.agreement["format"] >= 0.5, report.agreement  # chance: 0.04
    assert report.agreement["rating"] >= 0.8, report.agreement
    student = StudentLabeler(workdir / "model")
    texts = taught["texts"][:64]
    labels = student.label(texts)
    table = label_rows([f"d{i}" for i in range(len(texts))], labels, student, student.version())
    assert table.schema.equals(LABEL_SCHEMA)

    def top(topics):
        return topics[0] if len(topics) else None

    same_top = [top(lab.topics) == top(row["topics"]) for lab, row in zip(labels, taught["rows"], strict=False)]
    assert np.mean(same_top) >= 0.4
    for text, lab in zip(texts, labels, strict=True):
        assert lab.synopsis.rstrip("…")[:40] in " ".join(text.split())  # a sentence of the document
        assert lab.rating in ("G", "PG", "PG-13", "R") and lab.language
        assert -1 <= lab.scores["sentiment"] <= 1 and lab.sentiment in ("positive", "negative", "neutral")
    assert sum(bool(lab.tags) for lab in labels) > 50  # keyword tags ranked by the static embedding


def test_factual_formats_get_a_sentiment_head_of_their_own(taught, workdir):
    """The teacher scores a factual document by its lexicon alone (near 0) and a review by the mix (far from 0):
    the student fits a second head on the factual part of its sample and reads a factual document with it."""
    report = train(taught, workdir / "factual")
    assert report.passed, report.summary
    with np.load(report.published / "heads.npz") as heads:
        assert "sentiment_factual_coef" in heads.files
    student = StudentLabeler(report.published)
    factual = Taxonomy(report.published / "taxonomy.toml").factual_formats  # the teacher's, copied with it
    news = [t for t, r in zip(taught["texts"], taught["rows"], strict=True) if r["format"] in factual]
    assert len(news) >= 20
    labels = student.label(news[:40])
    predicted = [abs(lab.scores["sentiment"]) for lab in labels if lab.format in factual]
    teacher = [abs(json.loads(r["scores"])["sentiment"]) for r in taught["rows"] if r["format"] not in factual]
    assert predicted and np.median(predicted) < 0.5 * np.median(teacher)  # scaled as the lexicon, not the mix
    few = train(taught, workdir / "few-factual", min_examples=1000, min_agreement=0.0, min_sentiment_agreement=0.0)
    with np.load(few.published / "heads.npz") as heads:
        assert "sentiment_factual_coef" not in heads.files  # too few factual documents: the one head for all


def test_a_value_the_teacher_gave_too_rarely_is_never_emitted(taught, workdir):
    report = train(taught, workdir / "rare", min_examples=40, min_agreement=0.0, min_sentiment_agreement=0.0)
    manifest = json.loads((report.published / MANIFEST_FILE).read_text())
    rare = set(report.refused["format"])
    given = {row["format"] for row in taught["rows"]}
    assert rare & given, "the sample should hold a format given fewer than 40 times"
    assert set(manifest["refused"]["format"]) == rare
    labels = StudentLabeler(report.published).label(taught["texts"])
    assert not {lab.format for lab in labels} & rare
    refused = [lab for lab in labels if lab.error and "too rare" in lab.error]
    assert refused and all(lab.format == "unknown" for lab in refused if "format" in lab.error)


def _variant(folder: Path, to: Path, manifest: dict | None = None, **arrays: np.ndarray) -> Path:
    """A copy of a student with its manifest and some of its heads' arrays replaced."""
    shutil.copytree(folder, to)
    if manifest is not None:
        (to / MANIFEST_FILE).write_text(json.dumps(manifest))
    if arrays:
        with np.load(folder / HEADS_FILE) as heads:
            np.savez(to / HEADS_FILE, **(dict(heads) | arrays))
    return to


def test_the_student_takes_the_teachers_second_opinion_on_format(taught, workdir, tmp_path):
    """The teacher's embedding head travels with the student and reranks its format as best_format does: only
    among the head's formats, only where the format model chose one of them. A student trained before the head
    (no ``format_embedding`` in its manifest) chooses as before; one whose files lack the weights is refused."""
    head = FormatEmbeddingHead.load()
    assert head is not None and "review" in head.formats
    report = train(taught, workdir / "second-opinion", min_agreement=0.0, min_sentiment_agreement=0.0)
    manifest = json.loads((report.published / MANIFEST_FILE).read_text())
    assert manifest["format_embedding"] == {"formats": list(head.formats), "beta": head.beta}
    with np.load(report.published / HEADS_FILE) as heads:
        np.testing.assert_allclose(heads["format_embedding_coef"], head.coef)
    without = _variant(
        report.published, tmp_path / "without", {k: v for k, v in manifest.items() if k != "format_embedding"}
    )
    review = np.array([50.0 if f == "review" else 0.0 for f in head.formats])  # the head says review, loudly
    loud = _variant(
        report.published, tmp_path / "loud", format_embedding_coef=0 * head.coef, format_embedding_intercept=review
    )
    texts = taught["texts"]
    before = [lab.format for lab in StudentLabeler(without).label(texts)]
    after = [lab.format for lab in StudentLabeler(loud).label(texts)]
    known = [b in head.formats for b in before]
    assert sum(known) > 100 and set(before) != {"review"}
    # `unknown`: a format refused for too few teacher labels came first, with the head's formats or without
    expected = [
        {"review"} if k else {"review", b} if b == "unknown" else {b} for b, k in zip(before, known, strict=True)
    ]
    bad = [(a, b) for a, b, e in zip(after, before, expected, strict=True) if a not in e]
    assert not bad, bad[:10]
    broken = _variant(report.published, tmp_path / "broken", {**manifest, "agreement_check": {"passed": True}})
    with np.load(report.published / HEADS_FILE) as heads:
        np.savez(broken / HEADS_FILE, **{k: v for k, v in heads.items() if not k.startswith("format_embedding")})
    with pytest.raises(StudentUnavailable, match="lacks it"):
        StudentLabeler(broken).label(texts[:1])


def test_a_topic_counts_its_teacher_labels_in_every_place_of_the_list():
    """A topic the teacher lists often but seldom first has its teacher labels: it is not refused."""
    from condpt_dagster.labelers.distill import _refusals

    def row(topics: list[str]) -> dict:
        return {"format": "news", "topics": topics, "rating": "G", "sentiment": "neutral"}

    rows = [row(["politics", "history"])] * 30 + [row(["religion"])] * 5 + [row(["history"])] * 2
    refused = _refusals(rows, np.ones(len(rows), dtype=bool), ["politics", "history", "religion", "games"], 20)
    assert refused["topics"] == {"religion": 5, "games": 0}  # history: first twice, given 32 times
    held_out = np.array([i < 25 for i in range(len(rows))])
    assert "politics" in _refusals(rows, ~held_out, ["politics"], 20)["topics"]  # only the training part counts


def test_a_student_below_the_agreement_threshold_is_not_published(taught, workdir):
    train(taught, workdir / "gate")
    version = StudentLabeler(workdir / "gate").version()
    bad = train(taught, workdir / "gate", min_agreement=1.0, min_sentiment_agreement=1.0)
    assert not bad.passed and bad.published == workdir / "gate-rejected"
    assert "short by" in bad.summary and "top_topic" in bad.summary
    assert StudentLabeler(workdir / "gate").version() == version  # the published student is untouched
    with pytest.raises(StudentUnavailable, match="failed its agreement check"):
        StudentLabeler(bad.published).label(["Some text to label."])


def test_retraining_changes_the_version_of_a_loaded_student(taught, workdir):
    train(taught, workdir / "versions", seed=1)
    student = StudentLabeler(workdir / "versions")
    first = student.version()
    student.label(taught["texts"][:4])
    train(taught, workdir / "versions", seed=2)  # another holdout draw: other heads, other files
    assert student.version() != first
    assert json.loads((workdir / "versions" / MANIFEST_FILE).read_text())["options"]["seed"] == 2


def test_an_untrained_student_has_a_version_and_refuses_to_label(tmp_path):
    student = StudentLabeler(tmp_path / "none")
    assert student.version()  # the code location loads before any student is trained
    with pytest.raises(StudentUnavailable, match="no trained student"):
        student.label(["text"])


def test_tuning_moves_the_static_vectors_to_the_teachers(taught, workdir):
    from condpt_dagster.labelers.distill import STATIC_CACHE, distilled_static, tune_static
    from condpt_dagster.labelers.student import StaticEncoder

    reads = taught["reads"]
    base = distilled_static(default_model_dir(), workdir / STATIC_CACHE)
    tuned = tune_static(base, workdir / "tuned", reads, np.ones(300, bool), epochs=3, seed=0)

    def cosine(folder: Path) -> float:
        encoder = StaticEncoder(folder)
        docs = [encoder.encode(s).mean(0) for s in reads.sentences[:100]]
        docs = [d / np.linalg.norm(d) for d in docs]
        return float(np.mean([d @ t for d, t in zip(docs, reads.document_vectors, strict=False)]))

    before, after = cosine(base), cosine(workdir / "tuned")
    assert after > before + 0.2 and after > 0.7, (before, after)
    assert tuned["document_cosine"] > before


def test_the_word_tables_change_speed_never_labels(taught, workdir):
    """The static encoder and the batch rules keep what they computed per word (labelers/word_table.py): a
    second pass over the same words, and a cache far too small for a batch (it starts again), give the same
    vectors and labels as the first pass."""
    from condpt_dagster.labelers.student import STATIC_DIR, StaticEncoder

    folder = workdir / "model"
    if not (folder / MANIFEST_FILE).is_file():
        train(taught, folder)
    texts = taught["texts"][:60]
    roomy, tiny = StaticEncoder(folder / STATIC_DIR), StaticEncoder(folder / STATIC_DIR, cache_words=100)
    first = np.vstack([roomy.encode(texts[:30]), roomy.encode(texts[30:])])
    np.testing.assert_allclose(np.vstack([roomy.encode(texts[:30]), roomy.encode(texts[30:])]), first, atol=1e-6)
    np.testing.assert_allclose(np.vstack([tiny.encode(texts[:30]), tiny.encode(texts[30:])]), first, atol=1e-6)
    assert len(tiny.words) < len(roomy.words)
    student = StudentLabeler(folder)
    assert student.label(texts) == student.label(texts)
    assert student.label([]) == []


def test_a_student_starts_with_the_words_of_its_teacher_sample(taught, workdir, tmp_path, caplog):
    """Training keeps the words the student met on its sample (labelers/student_words.py), so a new process
    starts warm; the tables change speed, never labels: the same labels as a copy without them, a static
    vector summed in text order whatever was met before, and tables another environment computed unused."""
    import shutil

    from condpt_dagster.labelers.student import STATIC_DIR, StaticEncoder
    from condpt_dagster.labelers.student_words import COMPUTED_BY, TABLES, WORDS_DIR

    folder = workdir / "model"
    if not (folder / MANIFEST_FILE).is_file():
        train(taught, folder)
    assert sorted(p.stem for p in (folder / WORDS_DIR).glob("*.parquet")) == sorted(TABLES)
    static, *_, tagger, tables = loaded(folder)
    assert len(static.words) > 1000 and len(tagger.candidate_table.words) > 1000 and len(tables.tiers) > 1000
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    shutil.rmtree(bare / WORDS_DIR)
    texts = [*taught["texts"][::-1][:80], "", "<p>Shit!</p> Damn it all.", "12 34"]
    assert StudentLabeler(folder).label(texts) == StudentLabeler(bare).label(texts)

    fresh, fed = StaticEncoder(bare / STATIC_DIR), StaticEncoder(bare / STATIC_DIR)
    fed.encode(taught["texts"][100:140])  # other words first: other cache rows for the same words
    assert np.array_equal(fresh.encode(texts), fed.encode(texts)) and np.array_equal(
        fresh.encode(texts), static.encode(texts)
    )

    moved = tmp_path / "other-env"
    shutil.copytree(folder, moved)
    computed = json.loads((moved / WORDS_DIR / COMPUTED_BY).read_text())
    (moved / WORDS_DIR / COMPUTED_BY).write_text(json.dumps(computed | {"pyphen": "0.0"}))
    with caplog.at_level("WARNING"):
        static, *_, tagger, tables = loaded(moved)
    assert "another ['pyphen']" in caplog.text
    assert len(static.words) > 1000 and len(tagger.candidate_table.words) == 0 and len(tables.syllables) == 0
    assert StudentLabeler(moved).label(texts) == StudentLabeler(bare).label(texts)

    (moved / WORDS_DIR / "static.parquet").write_bytes(b"not parquet")
    with pytest.raises(StudentUnavailable, match=r"word tables are unusable.*static\.parquet"):
        StudentLabeler(moved).label(texts[:1])


def test_the_student_keeps_numpys_blas_to_its_threads(taught, workdir):
    """One student process per core: numpy's default of a BLAS thread per core made two processes fight."""
    from threadpoolctl import threadpool_info

    folder = workdir / "model"
    if not (folder / MANIFEST_FILE).is_file():
        train(taught, folder)
    student, seen = StudentLabeler(folder), []
    inner = student._label
    student._label = lambda texts: (
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}) or inner(texts)
    )
    assert student.label(taught["texts"][:3]) == StudentLabeler(folder, threads=2).label(taught["texts"][:3])
    assert seen == [{1}]


def loaded(folder: Path) -> tuple:
    """A student's loaded parts: static encoder, heads, taxonomy, tagger, rule tables."""
    student = StudentLabeler(folder)
    student.version()
    return student._model


def test_the_sentiment_sign_is_compared_where_the_teacher_is_polar():
    from types import SimpleNamespace

    from condpt_dagster.labelers.distill import agreement

    def student(score: float) -> SimpleNamespace:
        return SimpleNamespace(format="news", topics=["politics"], rating="G", sentiment="neutral",
                               scores={"sentiment": score})  # fmt: skip

    def teacher(label: str, score: float) -> dict:
        return {"format": "news", "topics": ["politics"], "rating": "G", "sentiment": label,
                "scores": json.dumps({"sentiment": score})}  # fmt: skip

    pairs = [
        (student(0.4), teacher("positive", 0.5)),
        (student(-0.3), teacher("positive", 0.3)),  # the one disagreement that counts
        (student(-0.01), teacher("neutral", 0.02)),  # a neutral document's sign is noise: left out
        (student(0.01), teacher("neutral", -0.05)),
    ]
    scores = agreement([s for s, _ in pairs], [t for _, t in pairs])
    assert scores["sentiment_sign"] == 0.5 and scores["format"] == 1.0
    assert agreement([student(0.1)], [teacher("neutral", -0.1)])["sentiment_sign"] == 1.0  # nothing polar to miss
