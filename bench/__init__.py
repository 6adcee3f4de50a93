"""Benchmarks: each compares condpt with an alternative (or two designs) side by side in one run and prints
ratios; results go to BENCHMARKS.md. Run from the repository root as ``python -m bench.<name>``; every one has
a smoke size the test suite runs (tests/bench/test_smoke.py). Corpus builders live in ``bench/corpora``,
one-off studies in ``bench/studies``; the tool that writes shipped package data in ``tools/``."""
