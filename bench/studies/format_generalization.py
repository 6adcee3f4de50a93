"""Does the format head learn formats or sources? Format accuracy per dev source for the committed head and four
ways to change it, each also measured on sources that the fit never saw.

    python -m bench.studies.format_generalization [--cache data/devsets] [--features F.npz] [--json out.json]

The fitted head (tools/train_label_heads.py) is fitted on the tune split of the fittable sources, so its accuracy
on their test split is an in-source figure. Two measures of what a source the fit never saw gets:
- the ``devsets.TEST_ONLY`` sources (test split), never fitted on;
- leave one source out (tune split): refit without a source, then label it. Only meaningful where the source's
  format has a second fitted source (fiction: Moby-Dick, Austen; speech: Commons, SOTU); elsewhere the format
  loses its only source and with it its fitted weights.

Variants (each reported on tune, test, and left out where it is fitted):
- ``committed``: data/label_heads.json as the labeler reads it;
- ``loso``: the committed recipe (l2 from label_heads.json) refitted without each two-source format's source;
- ``centered``: the committed cue weights minus their mean over the fitted formats (share 0.5 or 1.0): a cue on
  nearly every document (proper nouns, digits) then no longer lifts every fitted format above the unfitted ones;
- ``fitted-only``: refitted with the softmax over the fitted formats only;
- ``embedding``: the committed scores plus ``beta`` x the logistic-regression head on the document embedding that
  train_label_heads fits (per-format logits centered over the formats it knows; 0 for the others), fitted on the
  tune split, and left out one source at a time;
- ``embedding rerank``: the same head as the labeler takes it (labelers/format.py FormatEmbeddingHead): only
  where the committed head chose a format it knows, and then only among those formats.

Features (embedding, similarities, cues: ~12 minutes on 2 cores) are cached in ``--features``, and computed anew
when the dev sets' documents change; when only labelers/format_cues.py changed, the cues alone (seconds); the
similarities are always taken anew from the cached embeddings and the taxonomy's prototypes (a second).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.corpora import devsets
from condpt_dagster.core.hashing import file_sha256
from condpt_dagster.labelers import format_cues
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.format import FormatEmbeddingHead, FormatModel
from condpt_dagster.labelers.format_cues import CUES, cue_matrix
from condpt_dagster.labelers.rules import strip_markup
from condpt_dagster.labelers.sentiment import LABEL_HEADS
from tools.train_label_heads import fit_format, fit_format_embedding, format_inputs

TUNE_PER_SOURCE, TEST_PER_SOURCE = 200, 100  # as train_label_heads fits and label_quality reports
TWO_SOURCE_FORMATS = ("moby", "austen", "commons", "sotu")  # sources whose format has another fitted source
CENTER_SHARES = (0.5, 1.0)
SPLITS = ("tune", "test")
EMBEDDING_BETAS, RERANK_BETAS = (0.1, 0.3), (0.1, 0.3, 1.0)


def load_split(cache: Path, split: str) -> list[devsets.DevDoc]:
    if split == "test":
        # the documents label_quality reports on (its sample takes every one-liner: all_of)
        return [d for d in devsets.load(cache, "test", TEST_PER_SOURCE, all_of=("jokes",)) if d.format]
    tune = [d for d in devsets.load(cache, "tune", 2000) if d.source not in devsets.TEST_ONLY and d.format]
    return [d for s in sorted({d.source for d in tune}) for d in [d for d in tune if d.source == s][:TUNE_PER_SOURCE]]


def features(cache: Path, path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per split: ``vectors``, ``sims``, ``cues``, ``format``, ``source``, ``id`` (cached in ``path``, read back
    while it holds the same documents and the cues were computed by the same labelers/format_cues.py; the similarities
    are computed anew from the vectors, so that a prototype edited in the taxonomy counts)."""
    docs = {split: load_split(cache, split) for split in SPLITS}
    labeler, cue_code = CompositeLabeler(), file_sha256(Path(format_cues.__file__))
    if path.is_file():
        stored = np.load(path)
        cached = {s: {k.split("/", 1)[1]: stored[k] for k in stored.files if k.startswith(s + "/")} for s in SPLITS}
        same_docs = all(cached[s].get("id", np.array([])).tolist() == [d.id for d in docs[s]] for s in SPLITS)
        if same_docs:
            if stored.get("meta/cue_code", np.array("")).item() != cue_code:  # the cues alone: seconds
                for split, split_docs in docs.items():
                    cached[split]["cues"] = cue_matrix([strip_markup(d.text) for d in split_docs])
                _save(path, cached, cue_code)
            for split in cached.values():
                split["sims"] = split["vectors"] @ labeler._format_matrix.T
            return cached
    out = {}
    for split, split_docs in docs.items():
        vectors, sims, cues = format_inputs(labeler, split_docs)
        out[split] = {"vectors": vectors, "sims": sims, "cues": cues, "id": np.array([d.id for d in split_docs]),
                      "format": np.array([d.format for d in split_docs]),
                      "source": np.array([d.source for d in split_docs])}  # fmt: skip
    _save(path, out, cue_code)
    return out


def _save(path: Path, splits: dict[str, dict[str, np.ndarray]], cue_code: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    columns = {f"{s}/{k}": v for s, cols in splits.items() for k, v in cols.items() if k != "sims"}
    np.savez(tmp, **columns, **{"meta/cue_code": cue_code})
    tmp.replace(path)


def accuracy(split: dict[str, np.ndarray], predicted: np.ndarray) -> dict[str, float]:
    """Share of each source's documents given their true format."""
    hits = predicted == split["format"]
    return {s: round(float(hits[split["source"] == s].mean()), 3) for s in sorted(set(split["source"]))}


def misses(split: dict[str, np.ndarray], predicted: np.ndarray) -> dict[str, dict[str, int]]:
    """Per source, the two formats its misses went to most often."""
    out = {}
    for source in sorted(set(split["source"])):
        rows = (split["source"] == source) & (predicted != split["format"])
        out[source] = dict(Counter(predicted[rows].tolist()).most_common(2))
    return out


def highest_share(split: dict[str, np.ndarray], predicted: np.ndarray) -> tuple[str, float]:
    """The format predicted most often relative to its true share (the 1.5x target)."""
    predicted_n, true_n = Counter(predicted.tolist()), Counter(split["format"].tolist())
    ratio, name = max((predicted_n[f] / n, f) for f, n in true_n.items())
    return name, round(ratio, 3)


def _docs(split: dict[str, np.ndarray], rows: np.ndarray) -> list[devsets.DevDoc]:
    """What fit_format reads of the documents: source and format."""
    pairs = zip(split["source"][rows], split["format"][rows], strict=True)
    return [devsets.DevDoc(id="", source=str(s), text="", format=str(f)) for s, f in pairs]


def scores(model: FormatModel, names: list[str], split: dict[str, np.ndarray], rows=slice(None)) -> np.ndarray:
    return model.score_matrix(names, split["sims"][rows], split["cues"][rows])


def refit(names: list[str], split: dict[str, np.ndarray], rows: np.ndarray, l2: float, only: bool) -> FormatModel:
    spec = fit_format(names, _docs(split, rows), split["sims"][rows], split["cues"][rows], l2, only)
    return FormatModel.from_spec(spec)


def centered(spec: dict, share: float) -> FormatModel:
    weights = spec["weights"]
    mean = {c: np.mean([w.get(c, 0.0) for w in weights.values()]) for c in CUES}
    moved = {f: {c: w.get(c, 0.0) - share * mean[c] for c in CUES} for f, w in weights.items()}
    return FormatModel.from_spec({**spec, "weights": moved})


def embedding_head(train: dict[str, np.ndarray], rows: np.ndarray, beta: float = 1.0) -> FormatEmbeddingHead:
    """The labeler's embedding head (tools/train_label_heads.py) fitted on ``rows`` of ``train``."""
    return FormatEmbeddingHead.from_spec(fit_format_embedding(_docs(train, rows), train["vectors"][rows], beta))


def added_logits(head: FormatEmbeddingHead, vectors: np.ndarray, names: list[str]) -> np.ndarray:
    """The head's logits as n x ``names`` columns to add to the scores: centered over the formats it was fitted on,
    0 for the others."""
    logits = head.logits(vectors)
    out = np.zeros((len(vectors), len(names)))
    out[:, [names.index(f) for f in head.formats]] = logits - logits.mean(1, keepdims=True)
    return out


def _embedding_variants(record, names: list[str], tune: dict, test: dict, base: dict[str, np.ndarray]) -> None:
    """The embedding head added to the committed scores, and as the labeler takes it (a reranker among the formats
    it knows); on the test split (fitted on the whole tune split) and on each tune source left out of its fit."""
    every = np.arange(len(tune["format"]))
    whole = embedding_head(tune, every)
    left_out = {s: embedding_head(tune, every[tune["source"] != s]) for s in sorted(set(tune["source"]))}

    def on_left_out(scores_of) -> np.ndarray:
        out = np.zeros_like(base["tune"])
        for source, head in left_out.items():
            held = tune["source"] == source
            out[held] = scores_of(head, base["tune"][held], tune["vectors"][held])
        return out

    for beta in EMBEDDING_BETAS:
        added = _added(names, beta)
        record(f"embedding beta {beta}", "test", test, added(whole, base["test"], test["vectors"]))
        record(f"embedding beta {beta}", "left out", tune, on_left_out(added))
    for beta in RERANK_BETAS:
        reranked = _reranked(names, beta)
        record(f"embedding rerank beta {beta}", "test", test, reranked(whole, base["test"], test["vectors"]))
        record(f"embedding rerank beta {beta}", "left out", tune, on_left_out(reranked))


def _added(names: list[str], beta: float):
    return lambda head, scores, vectors: scores + beta * added_logits(head, vectors, names)


def _reranked(names: list[str], beta: float):
    return lambda head, scores, vectors: replace(head, beta=beta).rerank(names, scores, vectors)


def run(data: dict[str, dict[str, np.ndarray]]) -> list[dict]:
    names = list(CompositeLabeler().taxonomy.formats)
    spec = json.loads(LABEL_HEADS.read_text(encoding="utf-8"))["format"]
    tune, test = data["tune"], data["test"]
    every = np.arange(len(tune["format"]))
    results = []

    def record(variant: str, split_name: str, split: dict, score_matrix: np.ndarray) -> None:
        predicted = np.array(names)[score_matrix.argmax(1)]
        name, ratio = highest_share(split, predicted)
        results.append({"variant": variant, "split": split_name, "accuracy": accuracy(split, predicted),
                        "highest_share": [name, ratio], "misses": misses(split, predicted)})  # fmt: skip

    variants = {"committed": FormatModel.from_spec(spec)}
    variants |= {f"centered {share}": centered(spec, share) for share in CENTER_SHARES}
    variants["refit (control)"] = refit(names, tune, every, spec["l2"], only=False)
    variants["fitted-only"] = refit(names, tune, every, spec["l2"], only=True)
    for variant, model in variants.items():
        record(variant, "tune", tune, scores(model, names, tune))
        record(variant, "test", test, scores(model, names, test))
    left_out = np.zeros((len(every), len(names)))
    for source in TWO_SOURCE_FORMATS:
        held = tune["source"] == source
        left_out[held] = scores(refit(names, tune, every[~held], spec["l2"], only=False), names, tune, held)
    two = np.isin(tune["source"], TWO_SOURCE_FORMATS)
    record("refit without the source", "left out", {k: v[two] for k, v in tune.items()}, left_out[two])
    base = {name: scores(variants["committed"], names, split) for name, split in (("tune", tune), ("test", test))}
    _embedding_variants(record, names, tune, test, base)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"))
    parser.add_argument("--features", type=Path, default=Path("data/format_generalization.npz"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(features(args.cache, args.features))
    for r in results:
        acc, (name, ratio) = r["accuracy"], r["highest_share"]
        per_source = " ".join(f"{s} {a:.2f}" for s, a in acc.items())
        mean = np.mean(list(acc.values()))
        print(f"{r['variant']:<26} {r['split']:<9} mean {mean:.3f}  highest share {ratio:.2f}x {name:<13} {per_source}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
