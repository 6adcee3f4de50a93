"""What every labeler produces: one :class:`DocumentLabels` per document, stored with ``LABEL_SCHEMA``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from condpt_dagster.core.hashing import config_version
from condpt_dagster.core.vocab import SYNOPSIS_MAX_CHARS

EMPTY_SYNOPSIS = "(no text)"

LABEL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("tags", pa.list_(pa.string())),  # open-vocabulary keywords
        ("topics", pa.list_(pa.string())),  # from the taxonomy
        ("rating", pa.string()),  # G / PG / PG-13 / R
        ("sfw", pa.bool_()),
        ("sentiment", pa.string()),  # positive / negative / neutral (unknown if the labeler has none)
        ("language", pa.string()),  # ISO 639-1, "und" when undetermined
        ("synopsis", pa.string()),  # one line, never empty
        ("length", pa.string()),  # short / medium / long / very long
        ("readability", pa.float32()),  # Flesch-Kincaid grade
        ("scores", pa.string()),  # JSON object: "topic:politics" -> 0.41, "tag:election" -> 0.52, ...
        ("labeler", pa.string()),
        ("labeler_version", pa.string()),
        ("error", pa.string()),  # null, or why a labeler fell back (e.g. unparseable model output)
    ]
)


@dataclass
class DocumentLabels:
    tags: list[str]
    topics: list[str]
    rating: str
    sfw: bool
    sentiment: str
    language: str
    synopsis: str
    length: str
    readability: float
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def one_line(text: str, limit: int = SYNOPSIS_MAX_CHARS) -> str:
    """Collapse whitespace and cut at a word boundary to at most ``limit`` characters (ellipsis included)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "…"


def rule_based_labels(text: str, sentiment: str, synopsis_chars: int = SYNOPSIS_MAX_CHARS) -> DocumentLabels:
    """What the rule taggers alone say: the starting point of every labeler and its fallback."""
    from condpt_dagster.labelers.rules import rule_labels

    rule = rule_labels(text)
    return DocumentLabels(
        tags=[],
        topics=[],
        rating=rule.rating,
        sfw=rule.sfw,
        sentiment=sentiment,
        language=rule.language,
        synopsis=one_line(text, synopsis_chars) or EMPTY_SYNOPSIS,
        length=rule.length,
        readability=rule.readability,
        scores={"language": rule.language_score},
    )


class Labeler(ABC):
    """A named labeler; :meth:`version` changes whenever its output could change."""

    name: str
    revision: str = "1"  # bump in a subclass when the same config would give different labels

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Config, model file hashes and data file hashes that determine the output.

        Hash large files with :func:`~condpt_dagster.core.hashing.cached_sha256`: the version is computed
        every time the code location loads.
        """

    def version(self) -> str:
        """Hashes the files once per instance: the version of the model this instance loaded."""
        if getattr(self, "_version", None) is None:
            self._version = config_version(self.revision, {"labeler": self.name, **self.fingerprint()})
        return self._version

    @abstractmethod
    def label(self, texts: Sequence[str]) -> list[DocumentLabels]:
        """Labels for a batch of documents, one per text, in order; never raises on odd text."""
