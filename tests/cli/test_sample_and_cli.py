"""The sample corpus and the `condpt` command line."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main
from condpt_dagster.sample_corpus import parse_mix, sample_documents, write_sample_shards


def test_sample_mixes_real_news_and_reviews(sample_wheels, lake):
    docs = sample_documents(sample_wheels, 500, seed=3)
    assert len(docs) == 500 and len({d["id"] for d in docs}) == 500
    sources = Counter(d["source"] for d in docs)
    assert sources == {"news": 200, "imdb": 200, "rotten_tomatoes": 100}
    reviews = [d for d in docs if d["meta"]["domain"] == "review"]
    assert {d["meta"]["sentiment"] for d in reviews} == {"positive", "negative"}
    news = next(d for d in docs if d["source"] == "news")
    assert news["meta"]["title"] and news["text"].startswith(news["meta"]["title"])
    assert sample_documents(sample_wheels, 500, seed=3) == docs  # deterministic

    paths = write_sample_shards(docs, lake.inbox, 3)
    lines = [json.loads(line) for p in paths for line in gzip.decompress(p.read_bytes()).splitlines()]
    assert [p.name for p in paths] == ["sample-000.jsonl.gz", "sample-001.jsonl.gz", "sample-002.jsonl.gz"]
    assert sorted(d["id"] for d in lines) == sorted(d["id"] for d in docs)


def test_sample_mix_chooses_the_sources(sample_wheels):
    docs = sample_documents(sample_wheels, 301, seed=1, mix=parse_mix("imdb=0.5,rotten_tomatoes=0.5"))
    assert Counter(d["source"] for d in docs) == {"imdb": 151, "rotten_tomatoes": 150}  # rounding goes to IMDB
    news_only = sample_documents(sample_wheels, 40, seed=1, mix=parse_mix("news=1"))
    assert {d["source"] for d in news_only} == {"news"} and len(news_only) == 40
    with pytest.raises(ValueError, match=r"5000 sample documents .* hold \{'news': 3824\}"):
        sample_documents(sample_wheels, 5000, mix={"news": 1.0})  # more than the source has: refused, not cut


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("imdb=0.5", "sum to 0.5, not 1"),
        ("poems=1", "unknown source 'poems' (known: news, imdb, rotten_tomatoes, fiction)"),
        ("imdb=half,news=0.5", "'imdb=half' is not source=share"),
        ("imdb=-0.5,news=1.5", "share of imdb is not between 0 and 1"),
        ("imdb=nan,news=1", "share of imdb is not between 0 and 1"),
        ("fiction=inf", "share of fiction is not between 0 and 1"),
    ],
)
def test_cli_sample_refuses_a_bad_mix(spec, reason, lake):
    out = CliRunner().invoke(main, ["sample", "--data", str(lake.root), "--mix", spec])
    assert out.exit_code == 2 and reason in out.output, out.output
    assert not list(lake.inbox.iterdir())


def test_cli_sample_add_materialize(sample_wheels, lake, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONDPT_DATA_ROOT", str(lake.root))
    (lake.root / "sample_wheels").symlink_to(sample_wheels)
    runner = CliRunner()
    out = runner.invoke(main, ["sample", "--docs", "60", "--shards", "2"])
    assert out.exit_code == 0, out.output
    shards = sorted(str(p) for p in lake.inbox.glob("sample-*.jsonl.gz"))
    out = runner.invoke(main, ["add-shards", *shards])
    assert out.exit_code == 0 and "registered 2 new shard(s)" in out.output, out.output
    out = runner.invoke(main, ["add-shards", shards[0]])
    assert "registered 0 new shard(s)" in out.output
    out = runner.invoke(main, ["materialize", "--select", "raw_documents"])
    assert out.exit_code == 0, out.output
    total = sum(len(pl.read_parquet(lake.raw(f"sample-00{i}"))) for i in range(2))
    assert total == 60
    instance = dg.DagsterInstance.get()
    assert instance.get_dynamic_partitions("shards") == ["sample-000", "sample-001"]
    assert instance.get_latest_materialization_event(dg.AssetKey("raw_documents")) is not None


def test_cli_rejects_unknown_extension(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    bad = tmp_path / "notes.csv"
    bad.write_text("text\n")
    out = CliRunner().invoke(main, ["add-shards", "--data", str(lake.root), str(bad)])
    assert out.exit_code != 0
    assert "unsupported file type" in out.output and ".jsonl.zst" in out.output
