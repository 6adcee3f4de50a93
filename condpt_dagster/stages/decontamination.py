"""Decontamination: no held-out document and no evaluation text shares a near-duplicate with training blocks.

Training documents are those packed into ``blocks/<shard>.spans.parquet``; held-out ones are in
``blocks/<shard>.heldout.parquet``; evaluation texts come from the files ``[clean] eval_texts`` names. Their
MinHash signatures (stored fingerprints where still valid, else computed from the conditioned text) go into
one LSH index of the training documents, which every held-out document and evaluation text is queried
against; texts shorter than ``near_duplicate_min_words`` are compared exactly (normalized whitespace and
case), as ``clean_documents`` does. Checked before every training run (the checkpoint asset's blocking check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from condpt_dagster.cleaning.minhash import MinHasher, NearDuplicateIndex
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanOptions
from condpt_dagster.stages.clean_documents import stored_fingerprints

MAX_REPORTED = 20


@dataclass
class Contamination:
    training_documents: int = 0
    checked: int = 0  # held-out documents + evaluation texts compared
    pairs: list[dict] = field(default_factory=list)  # first MAX_REPORTED: held-out/eval -> training match
    contaminated: int = 0

    @property
    def passed(self) -> bool:
        return self.contaminated == 0


def _stored_signatures(lake: DataLake, shard: str, options: CleanOptions) -> dict[str, np.ndarray]:
    prints = stored_fingerprints(lake, shard, options)
    if prints is None:
        return {}
    return {prints.ids[i]: prints.signatures[i] for i in prints.passing()}


def _exact_key(text: str) -> str:
    return " ".join(text.lower().split())


def _training_documents(lake: DataLake, shard: str, options: CleanOptions, hasher: MinHasher):
    """(ids, exact keys, signatures) of the documents of the shard's training blocks long enough to compare
    by signature; the exact keys cover every training document."""
    ids = pl.read_parquet(lake.blocks(shard).spans, columns=["id"])["id"].unique(maintain_order=True)
    docs = pl.read_parquet(lake.conditioned(shard), columns=["id", "text"]).filter(pl.col("id").is_in(ids.implode()))
    texts = dict(zip(docs["id"].to_list(), docs["text"].to_list(), strict=True))
    long_ids = [i for i, t in texts.items() if len(t.split()) >= options.near_duplicate_min_words]
    stored = _stored_signatures(lake, shard, options)
    missing = [doc_id for doc_id in long_ids if doc_id not in stored]
    stored |= dict(zip(missing, hasher.signatures(texts[i] for i in missing), strict=True))
    signatures = np.vstack([stored[i] for i in long_ids]) if long_ids else np.empty((0, options.num_perm), np.uint32)
    return long_ids, {_exact_key(t): i for i, t in texts.items()}, signatures


def _eval_texts(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(source, text) of every evaluation text; a file without a 'text' column is an error naming it."""
    found = []
    for name in paths:
        path = Path(name)
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
        if "text" not in frame.columns:
            raise ValueError(f"{path}: [clean] eval_texts file has no 'text' column (columns: {frame.columns})")
        found += [(f"{path.name}:{i + 1}", text) for i, text in enumerate(frame["text"].to_list())]
    return found


def check_contamination(lake: DataLake, shards: list[str], options: CleanOptions) -> Contamination:
    hasher = MinHasher(options.num_perm, options.shingle_words, options.seed)
    index = NearDuplicateIndex(options.num_perm, options.bands, options.decontamination_threshold, options.seed)
    report, exact = Contamination(), {}
    for shard in shards:
        ids, keys, signatures = _training_documents(lake, shard, options, hasher)
        index.add_many([(shard, i) for i in ids], signatures)
        exact |= {key: (shard, doc_id) for key, doc_id in keys.items()}
        report.training_documents += len(keys)
    probes = []
    for shard in shards:
        heldout = pq.read_table(lake.blocks(shard).heldout, columns=["id", "text"]).to_pydict()
        probes += [(f"heldout {shard}/{i}", t) for i, t in zip(heldout["id"], heldout["text"], strict=True)]
    probes += [(f"eval {source}", text) for source, text in _eval_texts(options.eval_texts)]
    report.checked = len(probes)
    long = [len(t.split()) >= options.near_duplicate_min_words for _, t in probes]
    signatures = iter(hasher.signatures(t for (_, t), is_long in zip(probes, long, strict=True) if is_long))
    for (name, text), is_long in zip(probes, long, strict=True):
        signature = next(signatures) if is_long else None
        same = exact.get(_exact_key(text))
        match = (same, 1.0) if same is not None else index.best_match(signature) if is_long else None
        if match is not None:
            report.contaminated += 1
            if len(report.pairs) < MAX_REPORTED:
                (shard, doc_id), similarity = match
                report.pairs.append({"document": name, "training": f"{shard}/{doc_id}", "similarity": similarity})
    return report
