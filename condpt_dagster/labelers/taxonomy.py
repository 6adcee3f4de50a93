"""The editable taxonomy file: topics, formats, moods, fiction genres, calibration and generic tags."""

from __future__ import annotations

import tomllib
from pathlib import Path

from condpt_dagster.core.vocab import STEERABLE_FORMATS

TAXONOMY = Path(__file__).resolve().parents[1] / "data" / "taxonomy.toml"


def _prototypes(section: dict) -> dict[str, list[str]]:
    """name -> the texts whose mean embedding stands for it ("name: description" plus examples)."""
    out = {}
    for name, spec in section.items():
        if isinstance(spec, str):
            out[name] = [f"{name}: {spec}"]
        else:
            out[name] = [f"{name.replace('-', ' ')}: {spec['description']}", *spec.get("examples", [])]
    return out


class Taxonomy:
    """Topics, formats, moods, fiction genres, calibration and generic tags from a taxonomy TOML file."""

    def __init__(self, path: Path) -> None:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        self.path = path
        self.topics = _prototypes(raw["topics"])
        self.formats = _prototypes(raw["formats"])
        unknown = sorted(set(self.formats) - set(STEERABLE_FORMATS))
        if unknown:
            raise ValueError(f"{path}: [formats] {unknown} are not formats; known: {', '.join(STEERABLE_FORMATS)}")
        self.moods = _prototypes(raw.get("moods", {}))
        self.fiction_genres = _prototypes(raw.get("fiction_genres", {}))
        cal = raw["calibration"]
        self.min_score = float(cal["min_score"])
        self.margin = float(cal["margin"])
        self.max_topics = int(cal["max_topics"])
        self.neutral_band = float(cal["neutral_band"])
        self.mood_margin = float(cal.get("mood_margin", 0.02))
        self.generic_tags = frozenset(raw.get("tags", {}).get("generic", []))
