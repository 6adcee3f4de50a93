"""Labeler quality on human-labelled dev text (bench/corpora/devsets.py), each figure beside the best offline peer.

    python -m bench.studies.label_quality [--split test] [--per-source 300] [--sources imdb,rt] [--labeler composite]
        [--student-dir data/student/model] [--json out.json]

Fields and metrics (test split by default: the labeler's learned parts are fitted on ``tune`` only):
- sentiment: Pearson r and AUROC of ``scores.sentiment`` (and of each part of the mix alone) against the
  human label (IMDB reviews, Rotten Tomatoes snippets); peer: the VADER lexicon's compound score on the whole
  text.
- rating: AUROC of ``scores.rating`` (and of the ordinal G < PG < PG-13 < R) for offensive vs clean
  one-liners; share of clean ones rated G; peer: alt-profanity-check's probability.
- format: accuracy per source whose format is known (news, fiction, speeches, documentation, reviews, e-mail,
  essays, licences), and
  the confusion matrix per source (true format of the source x predicted format, counts).
- genre: accuracy of a classifier (logistic regression, 5-fold) that sees only the emitted labels (format,
  topics, tags, rating, sentiment, length) and predicts press / nonfiction / fiction.
- tags (bench/studies/tag_quality.py): per source, top-1 BM25 retrieval of each document by its tags among 100 random
  documents of its source, the most frequent tag's share and the share of generic tags (used on half of the
  sources); over the mixed set, the most frequent tag's share (target: at most 15%).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from scipy.stats import pearsonr
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

from bench.corpora import devsets
from bench.studies import tag_quality
from condpt_dagster.core.vocab import RATINGS
from condpt_dagster.labelers import build_labeler
from condpt_dagster.labelers.student import StudentLabeler
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy

_TAXONOMY = Taxonomy(TAXONOMY)
MOOD_AND_GENRE = {*_TAXONOMY.moods, *_TAXONOMY.fiction_genres}


def row(field: str, dataset: str, n: int, metric: str, value: float, peer: str | None = None, peer_value=None) -> dict:
    peer_value = None if peer_value is None else round(float(peer_value), 3)
    return {
        "field": field,
        "set": dataset,
        "n": n,
        "metric": metric,
        "condpt": round(float(value), 3),
        "peer": peer,
        "peer_value": peer_value,
    }


def label_all(labeler, docs: list[devsets.DevDoc], batch: int = 32) -> tuple[list, float]:
    start = time.perf_counter()
    out = []
    for i in range(0, len(docs), batch):
        out += labeler.label([d.text for d in docs[i : i + batch]])
    return out, time.perf_counter() - start


def sentiment_rows(docs, labels) -> list[dict]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    rows = []
    for source in sorted({d.source for d in docs} & {"imdb", "rt"}):
        pairs = [(d, lab) for d, lab in zip(docs, labels, strict=True) if d.source == source]
        truth = np.array([d.sentiment for d, _ in pairs])
        ours = np.array([lab.scores.get("sentiment", 0.0) for _, lab in pairs])
        peer = np.array([vader.polarity_scores(d.text)["compound"] for d, _ in pairs])
        r = pearsonr(ours, truth)[0]
        rows.append(row("sentiment", source, len(pairs), "pearson_r", r, "vader", pearsonr(peer, truth)[0]))
        positive = truth > 0  # the labels are binary: AUROC ranks, so it does not depend on how a score is squashed
        rows.append(row("sentiment", source, len(pairs), "auroc", roc_auc_score(positive, ours), "vader",
                        roc_auc_score(positive, peer)))  # fmt: skip
        for part in ("lexicon", "encoder"):  # each component of the mix alone
            alone = np.array([lab.scores.get(f"sentiment:{part}", 0.0) for _, lab in pairs])
            rows.append(row("sentiment", source, len(pairs), f"pearson_r ({part} part)", pearsonr(alone, truth)[0]))
            rows.append(row("sentiment", source, len(pairs), f"auroc ({part} part)", roc_auc_score(positive, alone)))
    return rows


def rating_rows(docs, labels) -> list[dict]:
    from profanity_check import predict_prob

    pairs = [(d, lab) for d, lab in zip(docs, labels, strict=True) if d.source == "jokes"]
    truth = np.array([d.offensive for d, _ in pairs])
    score = np.array([lab.scores.get("rating", 0.0) for _, lab in pairs])
    ordinal = np.array([RATINGS.index(lab.rating) for _, lab in pairs])
    peer = predict_prob([d.text for d, _ in pairs])
    clean_g = float(np.mean([lab.rating == "G" for d, lab in pairs if not d.offensive]))
    offensive_g = float(np.mean([lab.rating == "G" for d, lab in pairs if d.offensive]))
    n = len(pairs)
    return [
        row(
            "rating",
            "jokes",
            n,
            "auroc(scores.rating)",
            roc_auc_score(truth, score),
            "alt-profanity-check",
            roc_auc_score(truth, peer),
        ),
        row("rating", "jokes", n, "auroc(rating G..R)", roc_auc_score(truth, ordinal)),
        row("rating", "jokes", n, "clean rated G", clean_g),
        row("rating", "jokes", n, "offensive rated G", offensive_g),
    ]


def format_rows(docs, labels) -> list[dict]:
    rows = []
    for source in sorted({d.source for d in docs if d.format}):
        pairs = [(d, lab) for d, lab in zip(docs, labels, strict=True) if d.source == source and d.format]
        hits = [lab.format == d.format for d, lab in pairs]
        confused = Counter(lab.format for d, lab in pairs if lab.format != d.format).most_common(2)
        metric = "accuracy (else " + ", ".join(f"{f} {c}" for f, c in confused) + ")"
        rows.append(row("format", f"{source} ({pairs[0][0].format})", len(pairs), metric, np.mean(hits)))
    return rows


def format_share_rows(docs, labels) -> list[dict]:
    """Each predicted format's share of the documents with a known format against its true share (target:
    at most 1.5x; a format no source has is infinitely over-predicted whenever it is predicted)."""
    known = [(d.format, lab.format) for d, lab in zip(docs, labels, strict=True) if d.format]
    truth, predicted = Counter(t for t, _ in known), Counter(p for _, p in known)
    rows = []
    for name, count in predicted.most_common():
        true_share, share = truth[name] / len(known), count / len(known)
        ratio = share / true_share if true_share else float("inf")
        metric = f"{name}: predicted share {share:.3f} / true share {true_share:.3f}"
        rows.append(row("format", "mixed (known formats)", len(known), metric, ratio))
    return rows


def format_confusion(docs, labels) -> dict[str, dict[str, int]]:
    """Per source with a known format: how many of its documents got each predicted format."""
    matrix: dict[str, Counter] = {}
    for d, lab in zip(docs, labels, strict=True):
        if d.format:
            matrix.setdefault(f"{d.source} ({d.format})", Counter())[lab.format] += 1
    return {source: dict(counts.most_common()) for source, counts in sorted(matrix.items())}


def print_confusion(matrix: dict[str, dict[str, int]]) -> None:
    predicted = sorted(
        {f for counts in matrix.values() for f in counts}, key=lambda f: -sum(c.get(f, 0) for c in matrix.values())
    )
    print(
        f"\nformat confusion (rows: source and its true format; columns: predicted)\n{'':22}"
        + "".join(f"{f[:11]:>12}" for f in predicted)
    )
    for source, counts in matrix.items():
        print(f"{source[:22]:22}" + "".join(f"{counts.get(f, 0):>12}" for f in predicted))


def label_features(lab, tags: bool = True) -> dict[str, float]:
    features = {f"format={lab.format}": 1.0, f"rating={lab.rating}": 1.0, f"sentiment={lab.sentiment}": 1.0}
    features.update({f"length={lab.length}": 1.0})
    features.update({f"topic={t}": 1.0 for t in lab.topics})
    features.update({f"tag={t}": 1.0 for t in lab.tags if tags or t in MOOD_AND_GENRE})
    return features


def genre_rows(docs, labels) -> list[dict]:
    pairs = [(d, lab) for d, lab in zip(docs, labels, strict=True) if d.genre]
    truth = [d.genre for d, _ in pairs]

    def accuracy_of(features: list[dict[str, float]]) -> float:
        matrix = DictVectorizer().fit_transform(features)
        return cross_val_score(LogisticRegression(max_iter=2000), matrix, truth, cv=5).mean()

    accuracy = accuracy_of([label_features(lab) for _, lab in pairs])
    # Keyword tags name characters and places: a classifier can learn the novels, not the genre.
    accuracy_without_tags = accuracy_of([label_features(lab, tags=False) for _, lab in pairs])
    fiction = [lab.format == "fiction" for d, lab in pairs if d.genre == "fiction"]
    return [
        row("genre", "press/nonfiction/fiction", len(pairs), "accuracy from labels (5-fold)", accuracy),
        row("genre", "press/nonfiction/fiction", len(pairs), "... without keyword tags", accuracy_without_tags),
        row("format", "fiction passages", len(fiction), "share format=fiction", np.mean(fiction)),
    ]


def tag_rows(docs, labels) -> list[dict]:
    tags, sources = [lab.tags for lab in labels], [d.source for d in docs]
    rows = []
    for source, r in tag_quality.by_source(tags, [d.text for d in docs], sources).items():
        rows.append(row("tags", source, r["docs"], "BM25 top-1 retrieval by tags", r["retrieval_top1"]))
        rows.append(row("tags", source, r["docs"], f"share with top tag ({r['top_tag']})", r["top_tag_share"]))
        rows.append(row("tags", source, r["docs"], "share of tags that are generic", r["generic_share"]))
    top, share = tag_quality.spread(tags)
    return [*rows, row("tags", "mixed (all sources)", len(docs), f"share with top tag ({top})", share)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"))
    parser.add_argument("--split", choices=["tune", "test"], default="test")
    parser.add_argument("--per-source", type=int, default=300)
    parser.add_argument("--labeler", default="composite")
    parser.add_argument("--student-dir", type=Path, help="with --labeler student: a student_labeler folder")
    parser.add_argument(
        "--any-verdict",
        action="store_true",
        help="with --labeler student: also a student its agreement check rejected (student/model-rejected/), to see "
        "how far off it is; condpt itself never labels with one",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sources", help="only these dev sources, comma-separated (e.g. imdb,rt)")
    args = parser.parse_args()
    devsets.fetch(args.cache)
    docs = devsets.load(args.cache, args.split, args.per_source, all_of=("jokes",))  # one-liners are cheap
    if args.sources:
        docs = [d for d in docs if d.source in args.sources.split(",")]
    labeler = build_labeler(args.labeler, {"student_dir": args.student_dir})
    if args.any_verdict and isinstance(labeler, StudentLabeler):
        labeler.require_passed = False
    labels, seconds = label_all(labeler, docs)
    present = {d.source for d in docs}
    rows = sentiment_rows(docs, labels) if present & {"imdb", "rt"} else []
    rows += rating_rows(docs, labels) if "jokes" in present else []
    rows += format_rows(docs, labels) + format_share_rows(docs, labels)
    rows += genre_rows(docs, labels) if len({d.genre for d in docs if d.genre}) > 1 else []
    rows += tag_rows(docs, labels)
    print(f"{len(docs)} documents ({args.split} split) labelled by {args.labeler} {labeler.version()} in "
          f"{seconds:.0f} s ({len(docs) / seconds:.1f} docs/s)")  # fmt: skip
    print(f"{'field':10} {'set':28} {'n':>5} {'metric':28} {'condpt':>7} {'peer':>20}")
    for r in rows:
        peer = f"{r['peer_value']} ({r['peer']})" if r["peer_value"] is not None else ""
        print(f"{r['field']:10} {r['set']:28} {r['n']:5} {r['metric']:28} {r['condpt']:7} {peer:>20}")
    confusion = format_confusion(docs, labels)
    print_confusion(confusion)
    if args.json:
        report = {"split": args.split, "docs": len(docs), "rows": rows, "format_confusion": confusion}
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
