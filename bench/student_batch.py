"""How many documents the student should read per call (issue 29): CPU ms per document by batch size, and
``document_labels``' stage function at 32 per call (the old default for every labeler) against the student's
own default, side by side in one process.

    python -m bench.student_batch --work W [--docs 2048] [--sizes 32 128 512 2048] [--shards 3]

``W`` is a ``bench/student.py`` work folder (its lake's clean shards and its trained student); a folder
without a student gets one first (``--build-docs`` sample documents, ``--sample`` of them teacher-labelled;
the student is measured whatever its agreement check said). Polars runs on one thread
(``POLARS_MAX_THREADS=1`` is set before it is imported), so CPU time per document is comparable.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from bench.student import build_lake, every_text
from condpt_dagster.core.labeler_settings import StudentSettings
from condpt_dagster.core.lake import DataLake
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.student import MANIFEST_FILE, StudentLabeler
from condpt_dagster.stages import student as stage
from condpt_dagster.stages.document_labels import label_shard


def cpu_ms_per_doc(labeler: StudentLabeler, texts: list[str], batch: int) -> float:
    start = time.process_time()
    for i in range(0, len(texts), batch):
        labeler.label(texts[i : i + batch])
    return 1000 * (time.process_time() - start) / len(texts)


def by_batch_size(labeler: StudentLabeler, texts: list[str], sizes: list[int], passes: int = 2) -> None:
    labeler.label(texts[:512])  # load the model; every size then meets the same, already seen words
    cpu_ms_per_doc(labeler, texts, max(sizes))
    for rep in range(passes):
        costs = {size: cpu_ms_per_doc(labeler, texts, size) for size in sizes}
        own = costs.get(labeler.batch_docs)
        cells = ", ".join(f"{size}: {ms:.2f}" + (f" ({ms / own:.2f}x)" if own else "") for size, ms in costs.items())
        print(f"pass {rep + 1}, CPU ms per document by documents per call ({len(texts)} documents): {cells}")


def through_the_stage(labeler: StudentLabeler, lake: DataLake, shards: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for shard in shards:
            rates = {}
            for batch in (32, None, 32, None):  # alternated: the second of each pair meets no new words
                start = time.perf_counter()
                stats = label_shard(lake.clean(shard), Path(tmp) / "labels.parquet", labeler, batch)
                rate = stats.documents / (time.perf_counter() - start)
                rates.setdefault(batch or labeler.batch_docs, []).append(rate)
            cells = "; ".join(f"{b} per call {' / '.join(f'{r:.0f}' for r in v)} docs/s" for b, v in rates.items())
            ratio = rates[labeler.batch_docs][1] / rates[32][1]
            print(f"label_shard {shard} ({stats.documents} documents): {cells}; {ratio:.2f}x on the second pass")


def student_folder(work: Path, build_docs: int, sample: int) -> Path:
    """The work folder's student (published, else rejected), trained first if there is none."""
    student = work / "data" / "student"
    if not any((student / name / MANIFEST_FILE).is_file() for name in ("model", "model-rejected")):
        lake, shards = build_lake(work, build_docs)
        teacher, options = CompositeLabeler(), StudentSettings(sample_docs=sample)
        stage.draw_and_label(lake, shards, teacher, options)
        stage.train_from_sample(lake, teacher, options)
    return next(student / n for n in ("model", "model-rejected") if (student / n / MANIFEST_FILE).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--docs", type=int, default=2048)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512, 2048])
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--build-docs", type=int, default=6000, help="a work folder without a student: its corpus")
    parser.add_argument("--sample", type=int, default=4000, help="... and its teacher sample")
    args = parser.parse_args()
    folder = student_folder(args.work, args.build_docs, args.sample)
    lake = DataLake.at(args.work / "data")
    shards = sorted(p.name.split(".")[0] for p in lake.clean_dir.glob("*.parquet"))
    by_batch_size(StudentLabeler(folder, require_passed=False), every_text(lake, shards)[: args.docs], args.sizes)
    through_the_stage(StudentLabeler(folder, require_passed=False), lake, shards[: args.shards])  # fresh tables


if __name__ == "__main__":
    main()
