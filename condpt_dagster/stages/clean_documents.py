"""Stage ``clean_documents``: ``raw/<shard>.parquet`` -> ``clean/<shard>.parquet`` + ``removed/<shard>.parquet``.

Per shard, in row order: quality filters (cleaning.quality), then exact and near-duplicates (cleaning.duplicates)
against every quality-passing document of the shards that sort before it and of the earlier rows of the same
shard, then PII redaction (cleaning.pii) of what is kept. A document's fate depends only on the raw shards
that sort up to its own, never on the order partitions are materialized in.

``fingerprints/<shard>.parquet`` keeps each raw document's exact hash, quality verdict and MinHash signature,
so later shards compare against earlier ones without recomputing them (recomputed when the raw file or the
settings changed). Every raw row is either in ``clean/`` or in ``removed/`` with its reason; nothing else.
Schemas: docs/design.md.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.cleaning.duplicates import DuplicateFinder, Fingerprints, Match
from condpt_dagster.cleaning.minhash import MinHasher
from condpt_dagster.cleaning.pii import PiiRedactor
from condpt_dagster.core.hashing import config_version, file_data_version
from condpt_dagster.core.io import atomic_output
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings
from condpt_dagster.stages.raw_documents import RAW_DESCRIPTIONS, RAW_SCHEMA

# Bump when the cleaning logic changes its output for the same input and options.
REVISION = "1"
FINGERPRINT_REVISION = "2"
COMPARED_KEY = "condpt.compared_shards"  # clean/<shard>.parquet metadata: the earlier shards it was compared with

CLEAN_SCHEMA = RAW_SCHEMA.append(pa.field("redactions", pa.int32()))
CLEAN_DESCRIPTIONS = {
    **RAW_DESCRIPTIONS,
    "text": "the document's text after cleaning: lines the C4 filter drops removed, PII replaced by placeholders",
    "redactions": "how many PII spans (e-mail and IP addresses, phone and card numbers) were replaced in the text",
}
REMOVED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("shard", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),  # <filter>:<rule> (gopher_quality:gopher_short_doc), exact_duplicate, near_duplicate
        ("duplicate_of", pa.string()),  # id of the earlier document it duplicates
        ("duplicate_shard", pa.string()),
        ("similarity", pa.float64()),  # estimated Jaccard (1.0 for exact duplicates)
    ]
)


def fingerprint_settings(options: CleanSettings) -> str:
    """What a fingerprint file depends on besides its raw file: filters, shingles and permutations."""
    used = options.model_dump(
        mode="json", include={"gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"}
    )
    used |= {"shingle_words": options.shingle_words, "num_perm": options.num_perm, "seed": options.seed}
    return config_version(FINGERPRINT_REVISION, used)


def compute_fingerprints(texts: list[str], ids: list[str], options: CleanSettings) -> tuple[Fingerprints, list[str]]:
    """Fingerprints of a shard's raw texts, and the texts as the line-removing filters (C4) leave them."""
    from condpt_dagster.cleaning.quality import QualityFilters  # datatrove: loaded when a shard is cleaned

    filters = QualityFilters(options)
    checked = filters.check_many(texts)
    hasher = MinHasher(options.num_perm, options.shingle_words, options.seed)
    prints = Fingerprints(
        ids=ids,
        hashes=[hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest() for text in texts],
        quality=[reason for reason, _ in checked],
        words=[len(text.split()) for _, text in checked],
        signatures=hasher.signatures(text for (reason, text) in checked if reason is None),
    )
    full = np.zeros((len(texts), options.num_perm), dtype=np.uint32)  # rejected rows: never indexed
    full[prints.passing()] = prints.signatures
    prints.signatures = full
    return prints, [text for _, text in checked]


def write_fingerprints(path: Path, prints: Fingerprints, raw_version: str, settings_version: str) -> None:
    num_perm = prints.signatures.shape[1]
    flat = pa.array(prints.signatures.reshape(-1), type=pa.uint32())
    table = pa.table(
        {
            "id": pa.array(prints.ids, pa.string()),
            "text_hash": pa.array(prints.hashes, pa.binary(16)),
            "quality": pa.array(prints.quality, pa.string()),
            "words": pa.array(prints.words, pa.int32()),
            "signature": pa.FixedSizeListArray.from_arrays(flat, num_perm),
        }
    ).replace_schema_metadata({"raw_version": raw_version, "settings_version": settings_version})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_fingerprints(path: Path, raw_version: str, settings_version: str) -> Fingerprints | None:
    """The stored fingerprints, or None when missing or made from another raw file or other settings."""
    if not path.is_file():
        return None
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if meta.get(b"raw_version", b"").decode() != raw_version or meta.get(b"settings_version", b"").decode() != (
        settings_version
    ):
        return None
    signature = table.column("signature").combine_chunks()
    width = signature.type.list_size
    return Fingerprints(
        ids=table.column("id").to_pylist(),
        hashes=table.column("text_hash").to_pylist(),
        quality=table.column("quality").to_pylist(),
        words=table.column("words").to_pylist(),
        signatures=signature.values.to_numpy().reshape(-1, width),
    )


def stored_fingerprints(lake: DataLake, shard: str, options: CleanSettings) -> Fingerprints | None:
    """A shard's fingerprint file if it was made from its current raw file with these settings, else None."""
    raw = lake.raw(shard)
    if not raw.is_file():
        return None
    return read_fingerprints(lake.fingerprints(shard), file_data_version(raw), fingerprint_settings(options))


def shard_fingerprints(lake: DataLake, shard: str, options: CleanSettings) -> Fingerprints:
    """Stored fingerprints of an earlier shard, or computed in memory (only its own run writes the file)."""
    stored = stored_fingerprints(lake, shard, options)
    if stored is not None:
        return stored
    table = pq.read_table(lake.raw(shard), columns=["id", "text"])
    return compute_fingerprints(table.column("text").to_pylist(), table.column("id").to_pylist(), options)[0]


@dataclass
class CleanStats:
    raw_rows: int = 0
    kept: int = 0
    removed: Counter[str] = field(default_factory=Counter)  # reason -> documents
    redactions: Counter[str] = field(default_factory=Counter)  # PII type -> replacements
    redacted_documents: int = 0
    compared_shards: list[str] = field(default_factory=list)
    indexed_documents: int = 0  # quality-passing documents of earlier shards compared with
    rows_in_clean: int = 0  # read back from the published files
    rows_in_removed: int = 0
    stale_later_shards: list[str] = field(default_factory=list)  # cleaned without this shard: rerun them

    @property
    def balanced(self) -> bool:
        """Every raw row is in clean/ or in removed/ (counted on the files before publishing)."""
        return self.raw_rows == self.rows_in_clean + self.rows_in_removed == self.kept + sum(self.removed.values())

    def removed_by_family(self) -> Counter[str]:
        """Removals by family: the quality filter's name, exact_duplicate or near_duplicate."""
        families: Counter[str] = Counter()
        for reason, n in self.removed.items():
            families[reason.split(":")[0]] += n
        return families


def find_duplicates(
    lake: DataLake, shard: str, prints: Fingerprints, options: CleanSettings, stats: CleanStats, log: Callable
) -> dict[int, Match]:
    """Each duplicate row of the shard and what it repeats, among the shards that sort before it and itself."""
    finder = DuplicateFinder(shard, prints, options)
    for earlier in (s for s in lake.raw_shards() if s < shard):
        stats.indexed_documents += finder.compare_earlier_shard(earlier, shard_fingerprints(lake, earlier, options))
        stats.compared_shards.append(earlier)
    finder.compare_within()
    if stats.compared_shards:
        log(
            f"{shard}: compared with {stats.indexed_documents} documents "
            f"of {len(stats.compared_shards)} earlier shard(s)"
        )
    return finder.matches


def _removed_table(rows: list[tuple[str, str, int, str, str | None, str | None, float | None]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in REMOVED_SCHEMA]
    return pa.table(dict(zip(REMOVED_SCHEMA.names, columns, strict=True)), schema=REMOVED_SCHEMA)


def clean_shard(lake: DataLake, shard: str, options: CleanSettings, log: Callable[[str], None] = print) -> CleanStats:
    """Clean one shard; ``clean/``, ``removed/`` and ``fingerprints/`` appear together only if every raw row
    is accounted for (:attr:`CleanStats.balanced`, counted on the files before publishing)."""
    raw = pq.read_table(lake.raw(shard))
    stats = CleanStats(raw_rows=raw.num_rows)
    ids, lines = raw.column("id").to_pylist(), raw.column("line").to_pylist()
    prints, texts = compute_fingerprints(raw.column("text").to_pylist(), ids, options)
    duplicates = find_duplicates(lake, shard, prints, options, stats, log)
    kept, removed = [], []
    for row in range(raw.num_rows):
        verdict, match = prints.quality[row], duplicates.get(row)
        if verdict is None and match is None:
            kept.append(row)
            continue
        if match is not None:
            removed.append((ids[row], shard, lines[row], match.reason, match.id, match.shard, match.similarity))
        else:
            removed.append((ids[row], shard, lines[row], verdict, None, None, None))
        stats.removed[removed[-1][3]] += 1
    stats.kept = len(kept)
    redacted, per_text, stats.redactions = PiiRedactor(options).redact([texts[row] for row in kept])
    stats.redacted_documents = sum(1 for n in per_text if n)
    clean = raw.take(pa.array(kept, pa.int64())).set_column(
        raw.schema.get_field_index("text"), "text", pa.array(redacted, pa.string())
    )
    clean = clean.append_column("redactions", pa.array(per_text, pa.int32())).cast(CLEAN_SCHEMA)
    clean = clean.replace_schema_metadata({COMPARED_KEY: ",".join(stats.compared_shards)})
    _publish(lake, shard, options, clean, _removed_table(removed), prints, stats)
    stats.stale_later_shards = [s for s, missing in stale_shards(lake).items() if shard in missing]
    if stats.stale_later_shards:
        log(f"{shard}: clean_documents of {', '.join(stats.stale_later_shards)} ran without this shard: rerun them")
    return stats


def stale_shards(lake: DataLake) -> dict[str, list[str]]:
    """Cleaned shards -> the earlier raw shards they were not deduplicated against (a shard that sorts before
    them arrived later); rerunning their clean_documents makes the corpus what any arrival order gives."""
    raw = lake.raw_shards()
    stale = {}
    for shard in raw:
        if lake.clean(shard).is_file():
            missing = sorted(set(s for s in raw if s < shard) - compared_with(lake, shard))
            if missing:
                stale[shard] = missing
    return stale


def compared_with(lake: DataLake, shard: str) -> set[str]:
    """The earlier shards a shard's clean file was deduplicated against (all of them, for a missing file)."""
    path = lake.clean(shard)
    if not path.is_file():
        return set(lake.raw_shards())
    value = (pq.read_schema(path).metadata or {}).get(COMPARED_KEY.encode(), b"").decode()
    return set(value.split(",")) if value else set()


def _publish(
    lake: DataLake,
    shard: str,
    options: CleanSettings,
    clean: pa.Table,
    removed: pa.Table,
    prints: Fingerprints,
    stats: CleanStats,
) -> None:
    with atomic_output(lake.clean(shard)) as clean_tmp, atomic_output(lake.removed(shard)) as removed_tmp:
        pq.write_table(clean, clean_tmp, compression="zstd")
        pq.write_table(removed, removed_tmp, compression="zstd")
        stats.rows_in_clean = pq.ParquetFile(clean_tmp).metadata.num_rows
        stats.rows_in_removed = pq.ParquetFile(removed_tmp).metadata.num_rows
        if not stats.balanced:
            raise ValueError(
                f"{lake.raw(shard)}: {stats.raw_rows} raw rows but {stats.rows_in_clean} clean + "
                f"{stats.rows_in_removed} removed; nothing published"
            )
        write_fingerprints(
            lake.fingerprints(shard), prints, file_data_version(lake.raw(shard)), fingerprint_settings(options)
        )
