"""The built-in sample corpus: real news articles, movie reviews and public-domain fiction, read from the
packages that ship them (``news_reviews``, ``fiction``), mixed (``mix``) and written as shards (``shards``)."""

from condpt_dagster.sample_corpus.fiction import FictionSourceError, ensure_fiction_archives, iter_fiction
from condpt_dagster.sample_corpus.mix import MIX, SOURCES, parse_mix, sample_documents
from condpt_dagster.sample_corpus.news_reviews import SAMPLE_WHEELS, ensure_sample_wheels, iter_news, iter_reviews
from condpt_dagster.sample_corpus.shards import tagged_rows, write_sample_shards

__all__ = [
    "MIX",
    "SAMPLE_WHEELS",
    "SOURCES",
    "FictionSourceError",
    "ensure_fiction_archives",
    "ensure_sample_wheels",
    "iter_fiction",
    "iter_news",
    "iter_reviews",
    "parse_mix",
    "sample_documents",
    "tagged_rows",
    "write_sample_shards",
]
