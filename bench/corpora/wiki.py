"""Encyclopedia articles for the dev sets: the English Wikipedia pages that gensim ships as test data.

gensim 4.4.0's wheel (PyPI, LGPL-2.1) holds ``gensim/test/test_data/enwiki-latest-pages-articles1.xml-
p000000010p000030302-shortened.bz2``: a MediaWiki export of the first 206 pages of an English Wikipedia dump
(text CC BY-SA 4.0 / GFDL), 107 of them articles (94 once disambiguation pages and lists are skipped), from
Aardvark and Abraham Lincoln to Azerbaijan: history, biology, geography, biographies, philosophy, sport. The
articles' wikitext becomes plain text with
``mwparserfromhell`` (images, categories, references, tables and the closing reference sections dropped; section
headings kept as their own lines), then ~``WORDS``-word passages of whole paragraphs, the article's title above its
first passage, at most ``PASSAGES`` per article so that the long ones do not outweigh the rest. One article, one
split. Redirects, disambiguation pages, lists and pages outside the article namespace are skipped.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from condpt_dagster.sample_corpus import fiction

WHEEL = fiction.Archive(
    "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
    (sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
     "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "gensim==4.4.0", "-d", "."),
    "pip",
)  # fmt: skip
DUMP = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WORDS = 250  # a passage: a few paragraphs, under the headings they fall under
PASSAGES = 5  # per article
MIN_WORDS = 100  # the last passage of an article (or a short article), as FOLDOC's articles
MIN_PARAGRAPH_WORDS = 3  # shorter lines are what markup removal left behind (an emptied template, a bare caption)
DROP_SECTIONS = {"references", "external links", "see also", "further reading", "notes", "bibliography",
                 "sources", "footnotes", "citations", "notes and references", "works cited"}  # fmt: skip
DROP_LINK_PREFIXES = ("file:", "image:", "category:", "media:")
DROP_TAGS = {"ref", "references", "table", "gallery", "math", "timeline", "imagemap", "score", "syntaxhighlight"}
# what emptied pronunciation and unit templates leave: "( ; )", "(; Latin name)"
_EMPTIED_PARENS = re.compile(r"\s*\(\s*(?:[;,]\s*)*\)")
_LEADING_SEPARATORS = re.compile(r"\(\s*(?:[;,]\s*)+")


def articles(dump: bytes) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of each article page in a bz2-compressed MediaWiki export."""
    for _, element in ElementTree.iterparse(bz2.BZ2File(io.BytesIO(dump)), events=("end",)):
        if not element.tag.endswith("}page"):
            continue
        title = element.findtext("{*}title") or ""
        text = element.findtext("{*}revision/{*}text") or ""
        namespace = element.findtext("{*}ns")
        skip = (
            namespace != "0"
            or element.find("{*}redirect") is not None
            or text.lstrip().upper().startswith("#REDIRECT")
            or "(disambiguation)" in title
            or "{{disambiguation" in text.lower()
            or title.startswith("List of")
        )
        if not skip:
            yield title, text
        element.clear()


def plain_sections(wikitext: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) of an article as a reader sees it; the lead section's heading is ""."""
    import mwparserfromhell  # a bench-only dependency (the dev and bench extras)

    code = mwparserfromhell.parse(wikitext)
    for link in code.filter_wikilinks():
        if str(link.title).strip().lower().startswith(DROP_LINK_PREFIXES):
            _remove(code, link)
    for tag in code.filter_tags():
        if str(tag.tag).strip().lower() in DROP_TAGS:
            _remove(code, tag)
    sections = []
    for section in code.get_sections(flat=True, include_lead=True):
        headings = section.filter_headings(recursive=False)
        heading = headings[0].title.strip_code().strip() if headings else ""
        if heading.lower() in DROP_SECTIONS:
            continue
        if headings:
            section.remove(headings[0])
        paragraphs = [_tidy(block) for block in re.split(r"\n\s*\n", section.strip_code())]
        paragraphs = [p for p in paragraphs if len(p.split()) >= MIN_PARAGRAPH_WORDS]
        if paragraphs:
            sections.append((heading, paragraphs))
    return sections


def passages(title: str, sections: list[tuple[str, list[str]]]) -> Iterator[str]:
    """Up to ``PASSAGES`` passages of ~``WORDS`` words of whole paragraphs, in order, each heading above the
    paragraphs it heads; the article's title heads the first. What is left at the end is a passage if it has
    ``MIN_WORDS``."""
    current, count, made = [title], 0, 0
    for heading, paragraphs in sections:
        current += [heading] if heading else []
        for paragraph in paragraphs:
            current.append(paragraph)
            count += len(paragraph.split())
            if count >= WORDS:
                yield "\n\n".join(current)
                made += 1
                if made == PASSAGES:
                    return
                current, count = [], 0
    if count >= MIN_WORDS:  # the article's last words, if enough to read as an article of their own
        yield "\n\n".join(current)


def wiki_passages(cache: Path) -> Iterator[tuple[str, str, str]]:
    """(id, article title, passage) of every article in the pinned gensim wheel under ``cache``."""
    with zipfile.ZipFile(cache / WHEEL.file) as wheel:
        dump = wheel.read(DUMP)
    for title, wikitext in articles(dump):
        slug = re.sub(r"\W+", "_", title).strip("_")
        for n, text in enumerate(passages(title, plain_sections(wikitext))):
            yield f"wiki-{slug}-{n}", title, text


def _tidy(block: str) -> str:
    return _LEADING_SEPARATORS.sub("(", _EMPTIED_PARENS.sub("", " ".join(block.split())))


def _remove(code, node) -> None:
    with contextlib.suppress(ValueError):  # inside a node removed before it
        code.remove(node)
