"""The sample corpus's mix: documents of each source in the shares asked, chosen deterministically."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from condpt_dagster.sample_corpus.fiction import iter_fiction
from condpt_dagster.sample_corpus.news_reviews import iter_news, iter_reviews

# Share of each source in a sample by default (news is capped by the 3,824 articles available).
MIX = {"news": 0.4, "imdb": 0.4, "rotten_tomatoes": 0.2}
# Every source a mix may name; fiction (607 passages) is fetched only when a mix asks for it.
SOURCES = ("news", "imdb", "rotten_tomatoes", "fiction")


def parse_mix(spec: str) -> dict[str, float]:
    """``"imdb=0.5,rotten_tomatoes=0.5"`` -> shares of :data:`SOURCES`; they must sum to 1."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        source, _, share = part.partition("=")
        if source not in SOURCES:
            raise ValueError(f"mix {spec!r}: unknown source {source!r} (known: {', '.join(SOURCES)})")
        try:
            mix[source] = float(share)
        except ValueError:
            raise ValueError(f"mix {spec!r}: {part!r} is not source=share") from None
        if not 0 <= mix[source] <= 1:  # also refuses nan and inf
            raise ValueError(f"mix {spec!r}: share of {source} is not between 0 and 1")
    if abs(sum(mix.values()) - 1) > 1e-6:
        raise ValueError(f"mix {spec!r}: shares sum to {sum(mix.values()):g}, not 1")
    return mix


def sample_documents(
    wheel_dir: Path,
    n_docs: int,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    fiction_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """``n_docs`` documents mixed by ``mix`` (default :data:`MIX`), chosen and shuffled deterministically by
    ``seed``. Sources left out of ``mix`` are not read; fiction is read from ``fiction_dir``."""
    mix = MIX if mix is None else mix
    by_source = _pools({src for src, share in mix.items() if share > 0}, wheel_dir, fiction_dir)
    wanted = {src: min(round(n_docs * share), len(by_source[src])) for src, share in mix.items() if share > 0}
    # rounding and the news cap go to the largest pool in the mix (IMDB when it is in)
    top_up = "imdb" if "imdb" in wanted else max(wanted, key=lambda src: len(by_source[src]))
    wanted[top_up] += n_docs - sum(wanted.values())
    if wanted[top_up] > len(by_source[top_up]):
        available = {src: len(by_source[src]) for src in wanted}
        raise ValueError(f"{n_docs} sample documents asked with mix {mix}, but those sources hold {available}")
    rng = random.Random(seed)
    docs = [doc for src, n in wanted.items() for doc in rng.sample(by_source[src], n)]
    rng.shuffle(docs)
    return docs


def _pools(sources: set[str], wheel_dir: Path, fiction_dir: Path | None) -> dict[str, list[dict[str, Any]]]:
    pools: dict[str, list[dict[str, Any]]] = {source: [] for source in SOURCES}
    if "news" in sources:
        pools["news"] = list(iter_news(wheel_dir))
    if sources & {"imdb", "rotten_tomatoes"}:
        for review in iter_reviews(wheel_dir):
            pools[review["source"]].append(review)
    if "fiction" in sources:
        if fiction_dir is None:
            raise ValueError("a mix with fiction needs the folder of the fiction archives")
        pools["fiction"] = list(iter_fiction(fiction_dir))
    return pools
