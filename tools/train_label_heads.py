"""Fit the composite labeler's learned parts on the dev *tune* split and write ``data/label_heads.json``.

    python -m tools.train_label_heads [--imdb 3000] [--out condpt_dagster/data/label_heads.json]

- sentiment: logistic regression on the MiniLM document embedding of IMDB reviews (tune split), then a
  two-input logistic mix of the VADER sentence mean and the head's logit, fitted on cross-fitted logits so
  the mix does not trust an over-fitted head;
- rating: logistic regression of "offensive" one-liners (tune split) on alt-profanity-check's logit and the
  lexicon tier rates (``rating``), and with the cross-fitted logit of a head on the document embedding
  (``rating_encoder``, what the composite labeler uses); PG / PG-13 / R thresholds at the 90th / 97th /
  99.5th percentile of the score on clean text of every kind in the tune split (one-liners, news, novels,
  speeches, reviews), so that clean text stays G.
- format: the scale of the prototype similarity and, for the formats the dev sets cover, cue
  weights by softmax regression over all formats (the others keep their hand-set cue weights), each source
  weighted equally; the L2 penalty on the cue weights chosen by 5-fold cross-validation on the tune split
  (mean per-source accuracy; the strongest penalty within 0.005 of the best);
- format_embedding: logistic regression of the format on the document embedding (each source weighted the same),
  a second opinion the labeler takes only among the formats it was fitted on (``FORMAT_EMBEDDING_BETA``).

Never reads the test split; label_quality.py reports on it. Never fits on ``devsets.TEST_ONLY`` sources.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from bench.corpora import devsets
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.format import FormatModel, required_cue_mask
from condpt_dagster.labelers.format_cues import CUES, layout_cues
from condpt_dagster.labelers.rating import FEATURES, profanity_probabilities, rating_features
from condpt_dagster.labelers.rules import rule_labels, split_sentences, strip_markup
from condpt_dagster.labelers.sentiment import LABEL_HEADS, vader_score


def embed(labeler: CompositeLabeler, texts: list[str], batch: int = 64) -> np.ndarray:
    return np.concatenate([labeler.document_vectors(texts[i : i + batch]) for i in range(0, len(texts), batch)])


def fit_sentiment(labeler: CompositeLabeler, docs: list[devsets.DevDoc]) -> dict:
    texts = [d.text for d in docs]
    y = np.array([d.sentiment > 0 for d in docs])
    x = embed(labeler, texts)
    head = LogisticRegression(C=2.0, max_iter=5000).fit(x, y)
    logits = cross_val_predict(LogisticRegression(C=2.0, max_iter=5000), x, y, cv=5, method="decision_function")
    vader = np.array([vader_score(split_sentences(strip_markup(t))) for t in texts])
    mix = LogisticRegression(max_iter=1000).fit(np.stack([vader, logits], 1), y)
    # 2 * sigmoid(z) - 1 == tanh(z / 2): halve the mix so SentimentHead.score is tanh of it.
    w_vader, w_head = (mix.coef_[0] / 2).tolist()
    return {
        "coef": [round(float(c), 6) for c in head.coef_[0]],
        "intercept": round(float(head.intercept_[0]), 6),
        "w_vader": round(w_vader, 6),
        "w_head": round(w_head, 6),
        "bias": round(float(mix.intercept_[0] / 2), 6),
        "trained_on": f"{len(docs)} IMDB reviews, dev tune split (bench/corpora/devsets.py)",
    }


def format_inputs(labeler: CompositeLabeler, docs: list[devsets.DevDoc]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Document embedding, prototype similarities and layout cue rates of each document."""
    vectors, cues = [], []
    for i in range(0, len(docs), 64):
        for read in labeler.read([d.text for d in docs[i : i + 64]]):
            vectors.append(read.vector if read.vector is not None else np.zeros(labeler.encoder.dim))
            cues.append([layout_cues(read.text)[c] for c in CUES])
    vectors = np.array(vectors, dtype=np.float64).reshape(len(docs), -1)
    return vectors, vectors @ labeler._format_matrix.T, np.array(cues, dtype=np.float64).reshape(len(docs), -1)


L2_GRID = (0.05, 0.02, 0.01, 0.005, 0.003, 0.002, 0.001)
L2_TOLERANCE = 0.005  # prefer the strongest penalty whose cross-validated accuracy is this close to the best


def format_predictions(names: list[str], spec: dict, sims: np.ndarray, cues: np.ndarray) -> np.ndarray:
    """The format each document gets from a fitted ``spec`` (as the labeler scores it)."""
    return np.array(names)[FormatModel.from_spec(spec).score_matrix(names, sims, cues).argmax(1)]


def per_source_accuracy(docs: list[devsets.DevDoc], predicted: np.ndarray) -> float:
    """Mean over sources of the share of each source's documents given their true format."""
    sources = sorted({d.source for d in docs})
    hits = np.array([p == d.format for d, p in zip(docs, predicted, strict=True)])
    return float(np.mean([hits[[d.source == s for d in docs]].mean() for s in sources]))


def choose_l2(names: list[str], docs: list[devsets.DevDoc], sims: np.ndarray, cues: np.ndarray) -> dict:
    """5-fold cross-validation (folds stratified by source) over ``L2_GRID``."""
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(sims, [d.source for d in docs]))
    scores = {}
    for l2 in L2_GRID:
        predicted = np.empty(len(docs), dtype=object)
        for train, held in folds:
            spec = fit_format(names, [docs[i] for i in train], sims[train], cues[train], l2)
            predicted[held] = format_predictions(names, spec, sims[held], cues[held])
        scores[l2] = per_source_accuracy(docs, predicted)
    best = max(scores.values())
    chosen = max(l2 for l2, score in scores.items() if score >= best - L2_TOLERANCE)
    return {"l2": chosen, "cross_validated": {str(l2): round(score, 4) for l2, score in scores.items()}}


def fit_format(
    names: list[str],
    docs: list[devsets.DevDoc],
    sims: np.ndarray,
    cues: np.ndarray,
    l2: float = 0.05,
    fitted_formats_only: bool = False,
) -> dict:
    """Softmax regression of the documents' formats over every format (``fitted_formats_only``: over the formats
    the documents have, so the cue weights are not pushed to keep the other formats down; a study, not kept:
    bench/studies/format_generalization.py)."""
    import torch

    fitted = sorted({d.format for d in docs})
    hand = FormatModel()  # hand-set cue weights of the formats that are not fitted, in similarity units
    hand_extra = np.array(
        [
            [
                sum(w * row[CUES.index(c)] for c, w in hand.hand.get(n, {}).items()) if n not in fitted else 0.0
                for n in names
            ]
            for row in cues
        ]
    )
    allowed = required_cue_mask(names, cues)  # REQUIRED_CUES, as the labeler applies them
    gate = np.where(allowed, 0.0, -1e4)
    sim_t, cue_t = torch.tensor(sims + hand_extra), torch.tensor(cues)
    gate_t = torch.tensor(gate)
    target = torch.tensor([(fitted if fitted_formats_only else names).index(d.format) for d in docs])
    # A document its own format's gate refuses (a licence passage without legal wording) cannot be reached by
    # any weight: fitted on, it only drives the other formats' logits down (the scale ran away to 130).
    reachable = [bool(allowed[i, names.index(d.format)]) for i, d in enumerate(docs)]
    per_source = Counter(d.source for d, ok in zip(docs, reachable, strict=True) if ok)
    sample_weight = torch.tensor(
        [ok / per_source[d.source] if ok else 0.0 for d, ok in zip(docs, reachable, strict=True)], dtype=torch.float64
    )
    cols = [names.index(n) for n in fitted]
    scale = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    weights = torch.zeros((len(fitted), len(CUES)), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([scale, weights], max_iter=500, line_search_fn="strong_wolfe")

    def loss_fn():
        optimizer.zero_grad()
        logits = scale * sim_t + gate_t
        logits[:, cols] = logits[:, cols] + cue_t @ weights.T
        if fitted_formats_only:
            logits = logits[:, cols]
        nll = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        loss = (nll * sample_weight).sum() / sample_weight.sum() + l2 * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(loss_fn)
    return {
        "scale": round(float(scale.detach()), 6),
        "weights": {
            n: {c: round(float(w), 6) for c, w in zip(CUES, row, strict=True)}
            for n, row in zip(fitted, weights.detach().numpy(), strict=True)
        },
        "trained_on": f"{sum(reachable)} documents of {len(per_source)} sources, dev tune split"
        + (
            f" ({len(docs) - sum(reachable)} that their format's required cue refuses left out)"
            if not all(reachable)
            else ""
        ),
    }


# Weight of the embedding head's logits against the format scores: the largest of 0.1 / 0.3 / 1.0 whose mean accuracy
# on tune sources left out of the head's fit stays within L2_TOLERANCE of the scores without it
# (bench/studies/format_generalization.py: 0.898 / 0.897 / 0.878 against 0.899).
FORMAT_EMBEDDING_BETA = 0.3
FORMAT_EMBEDDING_C = 1.0


def fit_format_embedding(docs: list[devsets.DevDoc], vectors: np.ndarray, beta: float = FORMAT_EMBEDDING_BETA) -> dict:
    """``format_embedding``: logistic regression of the format on the document embedding, each source weighted the
    same (labelers/format.py FormatEmbeddingHead)."""
    sources = Counter(d.source for d in docs)
    weight = np.array([1.0 / sources[d.source] for d in docs])
    head = LogisticRegression(C=FORMAT_EMBEDDING_C, max_iter=3000)
    head.fit(vectors, [d.format for d in docs], sample_weight=weight * len(docs) / weight.sum())
    return {
        "formats": [str(c) for c in head.classes_],
        "coef": [[round(float(w), 6) for w in row] for row in head.coef_],
        "intercept": [round(float(b), 6) for b in head.intercept_],
        "beta": beta,
        "trained_on": f"{len(docs)} documents of {len(sources)} sources, dev tune split",
    }


def rating_matrix(texts: list[str]) -> np.ndarray:
    probs = profanity_probabilities([strip_markup(t) for t in texts])
    rows = []
    for text, p in zip(texts, probs, strict=True):
        rule = rule_labels(text)
        rows.append(rating_features(float(p), rule.hits, rule.words))
    return np.stack(rows)


def _scored(x: np.ndarray, y: np.ndarray, clean_x: np.ndarray, features: tuple[str, ...]) -> dict:
    """Logistic score of ``features``; PG / PG-13 / R cut at the 90th / 97th / 99.5th percentile of clean text."""
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    cuts = np.quantile(model.predict_proba(clean_x)[:, 1], [0.90, 0.97, 0.995])
    return {
        "features": list(features),
        "coef": [round(float(c), 6) for c in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 6),
        "thresholds": {name: round(float(c), 6) for name, c in zip(("PG", "PG-13", "R"), cuts, strict=True)},
    }


def fit_rating(labeler: CompositeLabeler, jokes: list[devsets.DevDoc], clean_long: list[devsets.DevDoc]) -> dict:
    """``rating`` (lexicon + alt-profanity-check) and ``rating_encoder`` (+ a head on the document embedding)."""
    x, y = rating_matrix([d.text for d in jokes]), np.array([d.offensive for d in jokes])
    long_x = rating_matrix([d.text for d in clean_long])
    trained_on = (
        f"{len(jokes)} one-liners (offensive = tagged sex/dirty/racist) and {len(clean_long)} clean documents "
        "for the thresholds, dev tune split"
    )
    base = _scored(x, y, np.concatenate([x[~y], long_x]), FEATURES)
    emb, long_emb = embed(labeler, [d.text for d in jokes]), embed(labeler, [d.text for d in clean_long])
    head = LogisticRegression(C=1.0, max_iter=5000).fit(emb, y)
    crossed = cross_val_predict(LogisticRegression(C=1.0, max_iter=5000), emb, y, cv=5, method="decision_function")
    x2 = np.column_stack([x, crossed])
    long_x2 = np.column_stack([long_x, head.decision_function(long_emb)])
    with_encoder = _scored(x2, y, np.concatenate([x2[~y], long_x2]), (*FEATURES, "encoder_logit"))
    with_encoder["encoder"] = {
        "coef": [round(float(c), 6) for c in head.coef_[0]],
        "intercept": round(float(head.intercept_[0]), 6),
    }
    return {"rating": {**base, "trained_on": trained_on}, "rating_encoder": {**with_encoder, "trained_on": trained_on}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"))
    parser.add_argument("--imdb", type=int, default=3000)
    parser.add_argument("--clean-per-source", type=int, default=200)
    parser.add_argument("--format-per-source", type=int, default=200)
    parser.add_argument(
        "--parts", default="sentiment,rating,format,format_embedding", help="Refit only these; keep the rest."
    )
    parser.add_argument("--out", type=Path, default=LABEL_HEADS)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    devsets.fetch(args.cache)
    tune = devsets.load(args.cache, "tune", per_source=max(args.imdb, 2000))
    tune = [d for d in tune if d.source not in devsets.TEST_ONLY]
    imdb = [d for d in tune if d.source == "imdb"][: args.imdb]
    jokes = [d for d in tune if d.source == "jokes"]
    clean = [d for s in ("news", "austen", "moby", "sotu", "imdb", "commons")
             for d in [d for d in tune if d.source == s][: args.clean_per_source]]  # fmt: skip
    formatted = [d for s in sorted({d.source for d in tune if d.format})
                 for d in [d for d in tune if d.source == s and d.format][: args.format_per_source]]  # fmt: skip
    labeler = CompositeLabeler()
    heads = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    if "sentiment" in parts:
        heads["sentiment"] = fit_sentiment(labeler, imdb)
    if "rating" in parts:
        heads.update(fit_rating(labeler, jokes, clean))
    if parts & {"format", "format_embedding"}:
        names, (vectors, sims, cues) = list(labeler.taxonomy.formats), format_inputs(labeler, formatted)
    if "format" in parts:
        chosen = choose_l2(names, formatted, sims, cues)
        heads["format"] = {**fit_format(names, formatted, sims, cues, chosen["l2"]), **chosen}
    if "format_embedding" in parts:
        heads["format_embedding"] = fit_format_embedding(formatted, vectors)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(heads, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({', '.join(sorted(parts))} refitted)")


if __name__ == "__main__":
    main()
