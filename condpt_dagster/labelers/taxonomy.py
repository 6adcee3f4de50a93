"""The editable taxonomy file: topics, sentiment examples, calibration and generic tags."""

from __future__ import annotations

import tomllib
from pathlib import Path

TAXONOMY = Path(__file__).resolve().parents[1] / "data" / "taxonomy.toml"


class Taxonomy:
    """Topics, sentiment examples, calibration and generic tags from a taxonomy TOML file."""

    def __init__(self, path: Path) -> None:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        self.path = path
        self.topics: dict[str, list[str]] = {
            name: [f"{name}: {spec['description']}", *spec.get("examples", [])] for name, spec in raw["topics"].items()
        }
        self.positive: list[str] = raw["sentiment"]["positive"]["examples"]
        self.negative: list[str] = raw["sentiment"]["negative"]["examples"]
        cal = raw["calibration"]
        self.min_score = float(cal["min_score"])
        self.margin = float(cal["margin"])
        self.max_topics = int(cal["max_topics"])
        self.neutral_band = float(cal["neutral_band"])
        self.generic_tags = frozenset(raw.get("tags", {}).get("generic", []))
