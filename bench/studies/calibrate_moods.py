"""Fit the composite labeler's mood calibration and print the ``[mood_calibration]`` table for
``condpt_dagster/data/taxonomy.toml``: per mood, the mean and standard deviation of its prototype similarity
over the dev tune split (bench/corpora/devsets.py, every source; the reserved corpora are not among them).

    python -m bench.studies.calibrate_moods [--per-source 60]

Run it after editing ``[moods]`` and paste the output over the table (the taxonomy's hash is part of
labeler_version, so every labels partition goes unsynced).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.corpora import devsets
from condpt_dagster.labelers.composite import CompositeLabeler


def mood_table(labeler: CompositeLabeler, texts: list[str]) -> dict[str, tuple[float, float]]:
    """name -> (mean, sd) of the mood prototype's cosine similarity over ``texts``' document embeddings."""
    vectors = labeler.document_vectors(texts)
    vectors = vectors[np.abs(vectors).sum(axis=1) > 0]  # documents without sentences have no embedding
    sims = vectors @ labeler._mood_matrix.T
    return {name: (float(sims[:, i].mean()), float(sims[:, i].std())) for i, name in enumerate(labeler.taxonomy.moods)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("data/devsets"))
    parser.add_argument("--per-source", type=int, default=60)
    args = parser.parse_args()
    devsets.fetch(args.cache)
    docs = devsets.load(args.cache, "tune", args.per_source)
    table = mood_table(CompositeLabeler(), [d.text for d in docs])
    print(
        f"# fitted by python -m bench.studies.calibrate_moods on {len(docs)} dev tune documents "
        f"({args.per_source} per source)"
    )
    print("[mood_calibration]")
    for name, (mean, sd) in table.items():
        print(f"{name} = [{mean:.4f}, {sd:.4f}]")


if __name__ == "__main__":
    main()
