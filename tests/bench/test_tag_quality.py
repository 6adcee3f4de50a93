"""bench/studies/tag_quality.py, the measures of issue 30's tag targets, on inputs whose answer is known."""

from __future__ import annotations

from bench.studies import tag_quality

TEXTS = [
    "The cyclone hit Vladivostok and the port closed.",
    "A review of the opera: the soprano sang Puccini beautifully.",
    "Parliament debated the fishing quota for the northern coast.",
    "The goalkeeper saved a penalty in the cup final.",
]


def test_distinctive_tags_find_their_document_and_shared_tags_do_not():
    distinctive = [["cyclone", "vladivostok"], ["soprano", "puccini"], ["fishing quota"], ["goalkeeper penalty"]]
    assert tag_quality.retrieval_top1(distinctive, TEXTS) == 1.0
    absent = [["zebra"]] * 4  # in no text: every document ties with every other, none is found alone
    assert tag_quality.retrieval_top1(absent, TEXTS) == 0.0
    untagged = [["cyclone"], [], [], []]
    assert tag_quality.retrieval_top1(untagged, TEXTS) == 0.25


def test_spread_and_generic_share():
    tags = [["film", "plot"], ["film"], ["news"], ["film", "film"]]
    assert tag_quality.spread(tags) == ("film", 0.75)  # a tag counts once per document
    sources = ["imdb", "rt", "news", "moby"]
    assert tag_quality.generic_tags(tags, sources) == {"film"}  # on 3 of 4 sources
    assert tag_quality.generic_share(tags, {"film"}) == 4 / 6
    rows = tag_quality.by_source(tags, TEXTS, sources)
    assert rows["imdb"]["top_tag"] == "film" and rows["imdb"]["generic_share"] == 0.5
