"""bench/corpora/devsets.py: the dictd dictionaries (FOLDOC, the Jargon File) as `encyclopedic` dev sources."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bench.corpora import devsets
from condpt_dagster.sample_corpus import fiction

SENSE = "A clever programming trick intended to solve a particular nasty case in an expedient, if not clear, manner."
KLUGE = (
    "kluge\n /klooj/\n\n    [from the German klug, clever]\n\n    1. n. "
    + " ".join([SENSE] * 6)
    + ("\n\n    2. n. Something that works for the wrong reason; see {crock}.\n")
)
SHORT = "foo\n\n    A sample name for absolutely anything.\n"


def _dictd(name: str, entries: dict[str, str]) -> dict[str, bytes]:
    """A dictd dictionary's index and data, as the package ships them."""
    data, index, offset = b"", [], 0
    for headword, entry in entries.items():
        raw = entry.encode("utf-8")
        index.append(f"{headword}\t{_b64(offset)}\t{_b64(len(raw))}")
        data, offset = data + raw, offset + len(raw)
    return {f"dictd/{name}.index": "\n".join(index).encode(), f"dictd/{name}.dict.dz": gzip.compress(data)}


def _b64(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 64)
        digits = devsets.DICT_DIGITS[digit] + digits
        if not number:
            return digits


def test_articles_of_100_words_are_read_as_an_encyclopedia_prints_them(monkeypatch: pytest.MonkeyPatch):
    members = _dictd("jargon", {"foo": SHORT, "kluge": KLUGE})
    monkeypatch.setattr(fiction, "deb_members", lambda _deb, wanted: {k: members[k] for k in wanted})
    docs = list(devsets.jargon(Path("unused")))
    assert [(d.id, d.source, d.format, d.split) for d in docs] == [
        ("jargon-kluge", "jargon", "encyclopedic", fiction.dev_split("jargon-kluge"))
    ]  # foo: a one-line definition, not an article
    head, *paragraphs = docs[0].text.split("\n\n")
    assert head == "kluge" and paragraphs[-1] == "2. n. Something that works for the wrong reason; see crock."
    assert paragraphs[1].startswith("1. n. A clever programming trick") and "\n" not in paragraphs[1]


def test_neither_dictionary_is_fitted_on():
    assert {"jargon", "foldoc"} <= set(devsets.SOURCES) & set(devsets.TEST_ONLY)
