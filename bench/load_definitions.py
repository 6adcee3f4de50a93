"""What loading the code location costs, with and without the cached model hashes (issue 11).

    python -m bench.load_definitions [--reps 5]

Side by side in one process:
1. the composite labeler's version (what `document_labels`' code_version needs) with the sha256 cache
   beside the model files removed before each repetition (every load hashes the weights, as before);
2. the same with the cache in place (size + mtime checked, nothing hashed);
3. `build_definitions` as a whole with the cache in place.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from condpt_dagster.core.hashing import HASH_CACHE_NAME
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.encoder import default_model_dir

REPO = Path(__file__).resolve().parents[1]


def timed(fn, reps: int, before=lambda: None) -> float:
    times = []
    for _ in range(reps):
        before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    cache = default_model_dir() / HASH_CACHE_NAME
    weights_mb = (default_model_dir() / "model.safetensors").stat().st_size / 1e6
    cold = timed(lambda: CompositeLabeler().version(), args.reps, before=lambda: cache.unlink(missing_ok=True))
    warm = timed(lambda: CompositeLabeler().version(), args.reps)
    settings = Settings(data_root="/tmp/condpt-bench-defs")
    definitions = timed(lambda: build_definitions(settings), args.reps)
    print(f"labeler version, rehashing {weights_mb:.0f} MB of weights: {cold * 1000:8.1f} ms")
    print(f"labeler version, cached hashes:                 {warm * 1000:8.1f} ms")
    print(f"build_definitions, cached hashes:               {definitions * 1000:8.1f} ms")
    print(f"ratio rehash / cached: {cold / warm:.0f}x")


if __name__ == "__main__":
    main()
