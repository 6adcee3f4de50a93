"""clean_documents: quality filters, exact and near-duplicates across shards, PII redaction, accounting."""

from __future__ import annotations

import random

import polars as pl
import pytest
from factories import write_raw

from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import CleanSettings
from condpt_dagster.stages.clean_documents import clean_shard, read_fingerprints

STOP_WORDS = ["the", "of", "and", "to", "in", "that", "with", "for", "was", "on", "as", "by", "at", "from"]
# A vocabulary big enough that two random texts share few words (the default shingles are single words).
VOCAB = STOP_WORDS + ["".join(random.Random(k).choices("abcdefghijklmnopqrstuvwxyz", k=6)) for k in range(2000)]
OPTIONS = CleanSettings()


def text(seed: int, words: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(STOP_WORDS if rng.random() < 0.3 else VOCAB) for _ in range(words)) + "."


def edit(source: str, share: float, seed: int) -> str:
    """Replace ``share`` of the words with random vocabulary words."""
    rng = random.Random(seed)
    words = source.split()
    for i in rng.sample(range(len(words)), int(share * len(words))):
        words[i] = rng.choice(VOCAB)
    return " ".join(words)


def shard(lake: DataLake, name: str, texts: list[str]) -> None:
    write_raw(lake.raw(name), name, [f"{name}-{i}" for i in range(len(texts))], texts)


def removed(lake: DataLake, name: str) -> dict[str, dict]:
    return {r["id"]: r for r in pl.read_parquet(lake.removed(name)).to_dicts()}


def kept_ids(lake: DataLake, name: str) -> list[str]:
    return pl.read_parquet(lake.clean(name))["id"].to_list()


@pytest.fixture
def lake(tmp_path) -> DataLake:
    lake = DataLake.at(tmp_path / "data")
    shard(lake, "a", [text(i) for i in range(20)])
    originals = [text(i) for i in range(20)]
    shard(lake, "b", [originals[3], edit(originals[5], 0.1, 1), text(100), text(101), text(100)])
    return lake


def test_exact_and_near_duplicates_of_earlier_shards_are_removed_with_their_source(lake):
    clean_shard(lake, "a", OPTIONS)
    stats = clean_shard(lake, "b", OPTIONS)
    rows = removed(lake, "b")
    assert rows["b-0"]["reason"] == "exact_duplicate" and rows["b-0"]["duplicate_of"] == "a-3"
    assert rows["b-0"]["duplicate_shard"] == "a" and rows["b-0"]["similarity"] == 1.0
    assert rows["b-1"]["reason"] == "near_duplicate" and rows["b-1"]["duplicate_of"] == "a-5"
    assert 0.4 <= rows["b-1"]["similarity"] < 1.0
    assert rows["b-4"]["duplicate_of"] == "b-2" and rows["b-4"]["duplicate_shard"] == "b"  # within the shard
    assert kept_ids(lake, "b") == ["b-2", "b-3"]
    assert stats.balanced and stats.removed == {"exact_duplicate": 2, "near_duplicate": 1}
    assert stats.compared_shards == ["a"] and stats.indexed_documents == 20


def test_the_order_of_materialization_does_not_change_what_is_kept(lake, tmp_path):
    clean_shard(lake, "b", OPTIONS)  # before "a": compares with a's raw documents all the same
    clean_shard(lake, "a", OPTIONS)
    first = (kept_ids(lake, "a"), kept_ids(lake, "b"), removed(lake, "b"))
    clean_shard(lake, "a", OPTIONS)
    clean_shard(lake, "b", OPTIONS)
    assert (kept_ids(lake, "a"), kept_ids(lake, "b"), removed(lake, "b")) == first
    assert kept_ids(lake, "a") == [f"a-{i}" for i in range(20)]  # the earlier shard keeps its copies


def test_quality_filters_name_filter_and_rule(tmp_path):
    lake = DataLake.at(tmp_path)
    repetitive = " ".join(["buy the cheap tickets to the show now"] * 20) + "."
    shard(lake, "q", [text(1), "Too short to be judged.", repetitive])
    stats = clean_shard(lake, "q", OPTIONS)
    rows = removed(lake, "q")
    assert rows["q-1"]["reason"] == "gopher_quality:gopher_short_doc"
    assert rows["q-2"]["reason"].startswith("gopher_repetition:")
    assert rows["q-1"]["duplicate_of"] is None and kept_ids(lake, "q") == ["q-0"]
    assert stats.removed_by_family() == {"gopher_quality": 1, "gopher_repetition": 1}


def test_thresholds_come_from_the_settings(tmp_path):
    lake = DataLake.at(tmp_path)
    shard(lake, "q", [text(1), "Too short to be judged."])
    lenient = CleanSettings(gopher_quality={"min_doc_words": 3})
    assert clean_shard(lake, "q", lenient).kept == 2


def test_pii_is_replaced_by_typed_placeholders_and_counted(tmp_path):
    lake = DataLake.at(tmp_path)
    body = text(7, 60)
    pii = f"{body} Write to jane.roe@example.org or call (415) 555-2671 from 8.8.8.8 today."
    only_pii = "jane.roe@example.org +1 415 555 2671"
    shard(lake, "p", [pii, only_pii])
    stats = clean_shard(lake, "p", CleanSettings(gopher_quality={"enabled": False}))
    clean = pl.read_parquet(lake.clean("p")).to_dicts()
    assert clean[0]["text"] == f"{body} Write to <EMAIL> or call <PHONE> from <IP_ADDRESS> today."
    assert clean[1]["text"] == "<EMAIL> <PHONE>" and [r["redactions"] for r in clean] == [3, 2]
    assert stats.redactions == {"EMAIL": 2, "PHONE": 2, "IP_ADDRESS": 1} and stats.redacted_documents == 2


def test_a_shard_of_duplicates_is_an_empty_valid_partition(lake):
    shard(lake, "c", [text(i) for i in range(5)])
    stats = clean_shard(lake, "c", OPTIONS)
    assert stats.kept == 0 and stats.rows_in_removed == 5 and stats.balanced
    assert pl.read_parquet(lake.clean("c")).is_empty()


def test_fingerprints_are_reused_until_the_raw_file_or_settings_change(lake):
    from condpt_dagster.core.hashing import file_data_version
    from condpt_dagster.stages.clean_documents import fingerprint_settings

    clean_shard(lake, "a", OPTIONS)
    version, settings = file_data_version(lake.raw("a")), fingerprint_settings(OPTIONS)
    stored = read_fingerprints(lake.fingerprints("a"), version, settings)
    assert stored is not None and stored.ids == [f"a-{i}" for i in range(20)] and stored.signatures.shape == (20, 128)
    assert (
        read_fingerprints(lake.fingerprints("a"), version, fingerprint_settings(CleanSettings(shingle_words=3))) is None
    )
    shard(lake, "a", [text(i) for i in range(3)])
    assert read_fingerprints(lake.fingerprints("a"), file_data_version(lake.raw("a")), settings) is None
    assert clean_shard(lake, "b", OPTIONS).indexed_documents == 3  # recomputed from the new raw file


def test_short_documents_are_only_compared_exactly(tmp_path):
    lake = DataLake.at(tmp_path)
    snippets = ["a deep and meaningful film .", "a deep and meaningful film indeed .", "a deep and meaningful film ."]
    shard(lake, "s", snippets)
    stats = clean_shard(lake, "s", CleanSettings(gopher_quality={"enabled": False}))
    assert kept_ids(lake, "s") == ["s-0", "s-1"] and stats.removed == {"exact_duplicate": 1}
    assert (
        clean_shard(lake, "s", CleanSettings(gopher_quality={"enabled": False}, near_duplicate_min_words=1)).kept == 1
    )


def test_a_shard_that_arrives_out_of_order_names_the_later_shards_to_rerun(lake):
    texts_a = pl.read_parquet(lake.raw("a"))["text"].to_list()
    lake.raw("a").unlink()  # "a" arrives after "b" was cleaned
    assert clean_shard(lake, "b", OPTIONS).compared_shards == []
    shard(lake, "a", texts_a)
    assert clean_shard(lake, "a", OPTIONS).stale_later_shards == ["b"]
    assert clean_shard(lake, "b", OPTIONS).removed == {"exact_duplicate": 2, "near_duplicate": 1}
    assert clean_shard(lake, "a", OPTIONS).stale_later_shards == []
