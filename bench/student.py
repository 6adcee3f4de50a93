"""The student labeler against its teacher: agreement, speed, and fastText as the alternative (issue 29).

    python -m bench.student [--docs 8000] [--sample 6000] [--speed-docs 400] [--work DIR] [--fasttext]

In one run, on sample-corpus documents cleaned as the pipeline cleans them:
1. ``teacher_sample``'s stage: ``--sample`` documents drawn across 4 shards, labelled and read by the teacher
   (the composite labeler) -> teacher docs/s while sampling;
2. ``student_labeler``'s stage: distil, tune, fit, and the held-out agreement per field with its verdict; the
   held-out format agreement side by side with a copy of the student without the teacher's second opinion on
   format (its ``format_embedding`` head, which students before student revision 9 did not apply);
3. speed on the same ``--speed-docs`` documents (not in the sample): the teacher (torch on every core), the
   student in one process, and the student in one process per core -> docs/s and the ratio to the teacher.
   Each student process first labels ``--warm-docs`` other documents (sampled ones too), as a long-running
   labeler has (its word, lemma and syllable caches); a new process's figure is printed too. Each figure
   twice, side by side: the student as trained (it starts with the words of its teacher sample,
   labelers/student_words.py) and a copy without those words;
4. with ``--fasttext`` (``pip install fasttext-wheel``): fastText classifiers trained on the same teacher
   labels of the same training part (format, top topic, sentiment sign), held-out accuracy and docs/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow.parquet as pq

from bench.corpora import devsets
from condpt_dagster.core.hashing import unit_hash
from condpt_dagster.core.labeler_settings import StudentSettings
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings, IngestSettings
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.student import MANIFEST_FILE, StudentLabeler
from condpt_dagster.labelers.student_words import WORDS_DIR
from condpt_dagster.sample_corpus import write_sample_shards
from condpt_dagster.stages import clean_documents, raw_documents
from condpt_dagster.stages import student as stage

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
SPAWN = multiprocessing.get_context("spawn")
DEVSETS = REPO / "data" / "devsets"  # bench/corpora/devsets.py's cache (``fetch`` fills it)


def build_lake(work: Path, docs: int, corpus: str = "sample") -> tuple[DataLake, list[str]]:
    """4 inbox shards, ingested and cleaned: ``condpt sample`` documents, or the dev sets' tune split."""
    lake = DataLake.at(work / "data")
    if corpus == "devsets":
        write_sample_shards(tune_documents(docs), lake.inbox, 4)
    else:
        env = {**os.environ, "CONDPT_DATA_ROOT": str(lake.root)}
        cmd = [str(BIN / "condpt"), "sample", "--docs", str(docs), "--shards", "4"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
    # The dev sets hold one-line jokes whose rating the dev test split measures: a student learns them only
    # if cleaning keeps them (Gopher's 50-word floor drops them; the rest of cleaning is as configured).
    clean = CleanSettings(gopher_quality={"min_doc_words": 5}) if corpus == "devsets" else CleanSettings()
    shards = []
    for source in sorted(lake.inbox.glob("sample-*.jsonl.gz")):
        shard = source.name.split(".")[0]
        raw_documents.ingest_shard(source, shard, lake.raw(shard), lake.quarantine(shard), IngestSettings())
        clean_documents.clean_shard(lake, shard, clean, log=lambda _: None)
        shards.append(shard)
    return lake, shards


def tune_documents(docs: int) -> list[dict[str, str | dict[str, str]]]:
    """About ``docs`` documents of the dev sets' tune split, an equal share per source (never the test split,
    never a test-only source), shuffled so that every shard holds every source."""
    sources = [s for s in devsets.SOURCES if s not in devsets.TEST_ONLY]
    picked = [d for d in devsets.load(DEVSETS, "tune", docs // len(sources)) if d.source not in devsets.TEST_ONLY]
    random.Random(0).shuffle(picked)
    return [{"id": d.id, "text": d.text, "meta": {"source": d.source}} for d in picked]


def unsampled(lake: DataLake, shards: list[str], n: int) -> list[str]:
    sampled = set(pq.read_table(lake.teacher_sample, columns=["id"]).column("id").to_pylist())
    texts = []
    for shard in shards:
        table = pq.read_table(lake.clean(shard), columns=["id", "text"]).to_pylist()
        texts += [r["text"] for r in table if r["id"] not in sampled]
    return texts[:n]


def every_text(lake: DataLake, shards: list[str]) -> list[str]:
    tables = (pq.read_table(lake.clean(shard), columns=["text"]) for shard in shards)
    return [text for table in tables for text in table.column("text").to_pylist()]


def _label_part(args: tuple[str, list[str], list[str], int | None]) -> tuple[float, float]:
    """Seconds to load the student and to label ``texts`` after ``warm``."""
    folder, texts, warm, blas_threads = args
    start = time.perf_counter()
    labeler = StudentLabeler(folder, require_passed=False, threads=blas_threads)  # whatever the verdict
    labeler.load()
    loading = time.perf_counter() - start
    batch = labeler.batch_docs  # as document_labels calls it
    for i in range(0, len(warm), batch):  # a long-running labeler has met most words already (its word tables)
        labeler.label(warm[i : i + batch])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        labeler.label(texts[i : i + batch])
    return loading, time.perf_counter() - start


def docs_per_second(
    student_dir: Path, texts: list[str], processes: int, warm: list[str], blas_threads: int | None = None
) -> tuple[float, float]:
    """Docs/s of ``processes`` fresh (spawned: polars' thread pool does not survive a fork) student processes,
    each with one polars thread when there is one process per core, once loaded; and the load's seconds."""
    parts = [(str(student_dir), texts[i::processes], warm, blas_threads) for i in range(processes)]
    threads = {"POLARS_MAX_THREADS": "1"} if processes > 1 else {}
    with mock.patch.dict(os.environ, threads), ProcessPoolExecutor(processes, mp_context=SPAWN) as pool:
        timings = list(pool.map(_label_part, parts))
    return len(texts) / max(seconds for _, seconds in timings), max(loading for loading, _ in timings)


def speeds(teacher: CompositeLabeler, student: Path, texts: list[str], warm: list[str], work: Path) -> None:
    """Docs/s of the teacher and of the student, with the words of its teacher sample (``words/``) and without
    them (a copy of the student without that folder: how every process started before they were kept)."""
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        teacher.label(texts[i : i + 32])
    teacher_rate = len(texts) / (time.perf_counter() - start)
    bare = work / "student-without-words"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(student, bare, ignore=shutil.ignore_patterns(WORDS_DIR))
    cores = os.cpu_count() or 1
    words = f"{np.mean([len(t.split()) for t in texts]):.0f} words"
    print(f"speed on {len(texts)} unsampled documents ({words}): teacher {teacher_rate:.1f} docs/s ({cores} threads)")
    rates = {}
    for name, folder in (("with its sample's words", student), ("without them", bare)):
        (cold, loading), (one, _) = docs_per_second(folder, texts, 1, []), docs_per_second(folder, texts, 1, warm)
        every = docs_per_second(folder, texts, cores, warm)[0] if cores > 1 else None
        rates[name] = cold, one, every
        print(
            f"student {name}: a new process loads in {loading:.1f} s, "
            f"then {cold:.0f} docs/s ({cold / teacher_rate:.0f}x)"
            f"; after {len(warm)} other documents {one:.0f} docs/s in 1 process ({one / teacher_rate:.0f}x)"
            + (f", {every:.0f} in {cores} ({every / teacher_rate:.0f}x)" if every else "")
        )
    ratios = [a / b for a, b in zip(*rates.values(), strict=True) if a and b]
    print("with / without the words: " + ", ".join(f"{r:.2f}x" for r in ratios) + " (new process, 1 warm, all warm)")
    if cores > 1:  # numpy's default, one BLAS thread per core in each process: how the student ran before
        crowded = docs_per_second(student, texts, cores, warm, blas_threads=cores)[0]
        every = rates["with its sample's words"][2]
        print(
            f"with BLAS on {cores} threads per process: {crowded:.0f} docs/s in {cores} processes; "
            f"on 1 thread: {every / crowded:.2f}x"
        )


def second_opinion_side_by_side(lake: DataLake, student: Path, options: StudentSettings, work: Path) -> None:
    """Held-out format agreement of the student as trained (with the teacher's second opinion on format, its
    ``format_embedding`` head) and of a copy without it (as students before student revision 9 chose)."""
    manifest = json.loads((student / MANIFEST_FILE).read_text(encoding="utf-8"))
    if not manifest.get("format_embedding"):
        print("format: the teacher has no second opinion on format (label_heads.json format_embedding)")
        return
    bare = work / "student-without-second-opinion"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(student, bare)
    (bare / MANIFEST_FILE).write_text(json.dumps({**manifest, "format_embedding": None}), encoding="utf-8")
    sample = pq.read_table(lake.teacher_sample, columns=["id", "text", "format"]).to_pylist()
    held = [r for r in sample if unit_hash(r["id"], options.seed, "student-holdout") < options.holdout]
    agree = {}
    for name, folder in (("with the second opinion", student), ("without it", bare)):
        labeler = StudentLabeler(folder, require_passed=False)
        labels = [
            lab for i in range(0, len(held), 512) for lab in labeler.label([r["text"] for r in held[i : i + 512]])
        ]
        agree[name] = np.mean([lab.format == r["format"] for lab, r in zip(labels, held, strict=True)])
    print(f"held-out format agreement ({len(held)} docs): " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))


def fasttext_baseline(sample_path: Path, seed: int, holdout: float) -> dict[str, tuple[float, float]]:
    import fasttext

    table = pq.read_table(sample_path, columns=["id", "text", "format", "topics", "scores"]).to_pylist()
    held = np.array([unit_hash(r["id"], seed, "student-holdout") < holdout for r in table])
    texts = [" ".join(r["text"].lower().split()) for r in table]
    targets = {
        "format": [r["format"] for r in table],
        "top_topic": [r["topics"][0] if r["topics"] else "none" for r in table],
        "sentiment_sign": ["pos" if json.loads(r["scores"]).get("sentiment", 0) >= 0 else "neg" for r in table],
    }
    out = {}
    for name, labels in targets.items():
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
            for text, label, is_held in zip(texts, labels, held, strict=True):
                if not is_held:
                    fh.write(f"__label__{label} {text}\n")
        model = fasttext.train_supervised(fh.name, dim=50, wordNgrams=1, epoch=50, lr=0.5, verbose=0, thread=2)
        os.unlink(fh.name)
        test = [i for i in range(len(texts)) if held[i]]
        start = time.perf_counter()
        predicted = [model.f.predict(texts[i], 1, 0.0, "strict")[0][1][9:] for i in test]  # numpy-2-safe call
        seconds = time.perf_counter() - start
        out[name] = (
            float(np.mean([p == labels[i] for p, i in zip(predicted, test, strict=True)])),
            len(test) / seconds,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=8000)
    parser.add_argument("--sample", type=int, default=6000)
    parser.add_argument("--speed-docs", type=int, default=400)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--fasttext", action="store_true")
    parser.add_argument("--warm-docs", type=int, default=2000, help="other documents each student process labels first")
    parser.add_argument(
        "--corpus",
        choices=["sample", "devsets"],
        default="sample",
        help="the corpus the student learns: condpt sample documents or the dev sets' tune split (compare on the "
        "test split: python -m bench.studies.label_quality --labeler student --student-dir WORK/data/student/model)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep --work's lake, sample and student")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-student-"))
    options = StudentSettings(sample_docs=args.sample)
    teacher = CompositeLabeler()
    if args.reuse:
        lake = DataLake.at(work / "data")
        shards = sorted(p.name.split(".")[0] for p in lake.clean_dir.glob("*.parquet"))
    else:
        lake, shards = build_lake(work, args.docs, args.corpus)
        start = time.perf_counter()
        sample = stage.draw_and_label(lake, shards, teacher, options)
        sampling = time.perf_counter() - start
        print(
            f"teacher sample: {sample.documents} documents from {len(shards)} shards in {sampling:.0f} s "
            f"({sample.documents / sampling:.1f} docs/s, labels and reads)"
        )
    start = time.perf_counter()
    report = stage.train_from_sample(lake, teacher, options)
    parts = json.dumps({k: round(v, 1) for k, v in report.seconds.items()})
    print(f"student trained in {time.perf_counter() - start:.0f} s {parts}")
    print(
        f"held-out agreement ({report.holdout_docs} docs): "
        + ", ".join(f"{k} {v:.3f}" for k, v in report.agreement.items())
    )
    print(f"verdict: {'published' if report.passed else 'rejected'}: {report.summary}")
    print(f"refused (teacher labels in training < {options.min_examples}): {report.refused}")
    second_opinion_side_by_side(lake, report.published, options, work)
    texts = unsampled(lake, shards, args.speed_docs)
    if not texts:
        print("speed: not measured, every document is in the teacher sample (--sample below the clean documents)")
        return
    timed = set(texts)
    warm = [t for t in every_text(lake, shards) if t not in timed][: args.warm_docs]
    speeds(teacher, report.published, texts, warm, work)
    if args.fasttext:
        for name, (accuracy, rate) in fasttext_baseline(lake.teacher_sample, options.seed, options.holdout).items():
            print(
                f"fastText {name}: held-out agreement {accuracy:.3f} (student {report.agreement[name]:.3f}), "
                f"{rate:.0f} docs/s predicting one field"
            )


if __name__ == "__main__":
    main()
