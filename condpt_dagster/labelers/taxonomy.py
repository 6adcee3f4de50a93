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
        self.factual_formats = frozenset(cal.get("factual_formats", []))  # none: every format keeps the mix
        if unknown := sorted(self.factual_formats - set(self.formats)):
            raise ValueError(f"{path}: [calibration] factual_formats {unknown} are not among [formats]")
        self.factual_neutral_band = float(cal.get("factual_neutral_band", self.neutral_band))
        self.genre_margin = float(cal.get("genre_margin", cal.get("mood_margin", 0.02)))
        self.mood_min_z = float(cal.get("mood_min_z", 2.0))
        self.mood_margin_z = float(cal.get("mood_margin_z", 0.3))
        self.mood_scale = _mood_scale(raw.get("mood_calibration", {}), list(self.moods), path)
        tags = raw.get("tags", {})
        self.generic_tags = frozenset(tags.get("generic", [])) | frozenset(tags.get("sources", []))

    def sentiment_label(self, score: float, fmt: str) -> str:
        """positive / negative / neutral for a sentiment score, with the band of the document's format."""
        band = self.factual_neutral_band if fmt in self.factual_formats else self.neutral_band
        return "positive" if score > band else "negative" if score < -band else "neutral"


def _mood_scale(table: dict, moods: list[str], path: Path) -> tuple[list[float], list[float]]:
    """Per mood, the mean and spread of its similarity over documents at large ([mood_calibration]:
    name = [mean, sd]); a mood without a row gets the average of the others (or 0.15 / 0.1)."""
    for name, pair in table.items():
        if name not in moods or not (isinstance(pair, list) and len(pair) == 2 and pair[1] > 0):
            raise ValueError(f"{path}: [mood_calibration] {name} must be a mood and [mean, sd > 0], got {pair!r}")
    known = list(table.values())
    default = [sum(p[i] for p in known) / len(known) for i in (0, 1)] if known else [0.15, 0.1]
    rows = [table.get(name, default) for name in moods]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]
