"""Issue 17, part 5: one record that cannot be written is quarantined; the rest of the shard is kept."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
import zstandard

from condpt_dagster.stages.raw_documents import ingest_shard


def test_deeply_nested_meta_is_quarantined_not_fatal(tmp_path):
    nested: dict = {}
    for _ in range(300):
        nested = {"a": nested}
    lines = [
        json.dumps({"id": "good-1", "text": "First good document."}),
        json.dumps({"id": "deep", "text": "Nested meta.", "meta": nested}),
        json.dumps({"id": "good-2", "text": "Second good document."}),
    ]
    source = tmp_path / "s.jsonl"
    source.write_text("\n".join(lines) + "\n")
    stats = ingest_shard(source, "s", tmp_path / "raw.parquet", tmp_path / "q.parquet")
    assert pl.read_parquet(tmp_path / "raw.parquet")["id"].to_list() == ["good-1", "good-2"]
    quarantined = pl.read_parquet(tmp_path / "q.parquet")
    assert quarantined["line"].to_list() == [2] and quarantined["reason"].to_list() == ["invalid_meta"]
    assert "cannot be serialized" in quarantined["detail"][0] and stats.balanced


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("ext", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_meta_nested_past_the_recursion_limit_is_quarantined_not_fatal(tmp_path, depth, ext):
    """Issue 28, hole 7: ~1,000 levels raised RecursionError in the decoder and failed the whole shard."""
    deep = '{"a":' * depth + "{}" + "}" * depth
    body = (
        '{"id": "good-1", "text": "First good document."}\n'
        f'{{"id": "deep", "text": "Nested meta.", "meta": {deep}}}\n'
        '{"id": "good-2", "text": "Second good document."}\n'
    ).encode()
    source = tmp_path / f"s{ext}"
    compress = {".jsonl": bytes, ".jsonl.gz": gzip.compress, ".jsonl.zst": zstandard.ZstdCompressor().compress}
    source.write_bytes(compress[ext](body))
    stats = ingest_shard(source, "s", tmp_path / "raw.parquet", tmp_path / "q.parquet")
    assert pl.read_parquet(tmp_path / "raw.parquet")["id"].to_list() == ["good-1", "good-2"]
    quarantined = pl.read_parquet(tmp_path / "q.parquet")
    assert quarantined["line"].to_list() == [2] and quarantined["reason"].to_list() == ["invalid_json"]
    assert "nested too deep" in quarantined["detail"][0] and stats.balanced
