"""Header templates: a document's labels rendered as the text the model is conditioned on.

A header renders a document's labels in one of three templates; the trainer sees ``header + BODY_TOKEN +
text``. ``BODY_TOKEN`` is a special token that text can never produce (see conditioning/tokenizer.py), so
whatever a document's own text says, including a fake header or control-token strings, comes after it and
cannot pose as labels. Label values are free text too (an extractive synopsis or a tag word copies the
document): every value is rendered through ``inert_text`` (one line, ``<|`` broken to ``< |``), and closed
values become control tokens only as slugs, so the only control tokens in a header are the ones the template
put there.

Templates (each a small function below):
- ``laion`` (default, the reference format)::

      [ PG, politics, senate, abortion ]
      # Montana bill seeks abortion ban.

  rating, topics and tags (in ``fields`` order) inside the brackets; the synopsis on a ``#`` line.
- ``control_tokens``: one special token per closed-vocabulary value (``<|rating:PG|>``, ``<|topic:politics|>``,
  ``<|sfw:true|>``, ...), as in conditional training with preference tokens; open-vocabulary tags and the
  synopsis follow their marker tokens ``<|tags|>`` and ``<|synopsis|>`` as text.
- ``metadata``: ``key: value`` lines, as in metadata-conditioned pretraining.

Dropout is deterministic in (seed, document id): ``conditional_dropout`` of documents get an empty header
(the model also learns the unconditional distribution), and each field is left out with its own
``field_dropout`` probability. Generation (training/generate.py) renders a requested header with the same
templates, so the prompt a user writes is the text the model was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import msgspec

from condpt_dagster.core.hashing import unit_hash
from condpt_dagster.core.settings import ConditioningSettings
from condpt_dagster.core.vocab import CLOSED_FIELDS, SYNOPSIS_MARKER, TAGS_MARKER, control_token, inert_text


def _values(labels: dict[str, Any], name: str) -> list[str]:
    """A field's values as inert, non-empty one-line strings."""
    value = labels.get(name)
    if value is None:
        return []
    if name == "sfw":
        return ["SFW" if value else "NSFW"]
    values = value if isinstance(value, list | tuple) else [value]
    return [text for text in map(inert_text, values) if text]


_BRACKET_SYNTAX = str.maketrans({",": " ", "[": " ", "]": " "})


def laion_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    # Brackets and commas are the template's own syntax: inside a value they become spaces.
    values = [v for f in fields if f != "synopsis" for v in _values(labels, f)]
    bracket = [w for w in (" ".join(v.translate(_BRACKET_SYNTAX).split()) for v in values) if w]
    lines = [f"[ {', '.join(bracket)} ]"] if bracket else []
    synopsis = _values(labels, "synopsis") if "synopsis" in fields else []
    if synopsis:
        lines.append(f"# {synopsis[0]}")
    return "\n".join(lines) + "\n" if lines else ""


def control_tokens_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    parts = []
    for name in fields:
        if name in CLOSED_FIELDS:
            raw = labels.get(name)
            values = raw if isinstance(raw, list) else [] if raw is None else [raw]
            token_field = "topic" if name == "topics" else name
            parts += [control_token(token_field, v) for v in values]
        elif _values(labels, name):
            marker = TAGS_MARKER if name == "tags" else SYNOPSIS_MARKER
            parts.append(marker + ", ".join(_values(labels, name)))
    return "".join(parts)


def metadata_header(labels: dict[str, Any], fields: Sequence[str]) -> str:
    lines = [f"{name}: {', '.join(_values(labels, name))}" for name in fields if _values(labels, name)]
    return "\n".join(lines) + "\n" if lines else ""


TEMPLATES: dict[str, Callable[[dict[str, Any], Sequence[str]], str]] = {
    "laion": laion_header,
    "control_tokens": control_tokens_header,
    "metadata": metadata_header,
}


def build_header(doc_id: str, labels: dict[str, Any], options: ConditioningSettings) -> str:
    """The header for one document after dropout ("" when the whole header is dropped)."""
    if unit_hash(options.seed, doc_id, "header") < options.conditional_dropout:
        return ""
    kept = [f for f in options.fields if unit_hash(options.seed, doc_id, f) >= options.field_dropout.get(f, 0.0)]
    return TEMPLATES[options.template](labels, kept)


@dataclass(frozen=True)
class HeaderFormat:
    """How a model's headers are written: the template, the fields in order, and (once the checkpoint stage
    counted them) the closed values each field had in training. Travels in the run spec and in the exported
    model's settings, so generation renders a requested header exactly as the training data did."""

    template: str
    fields: list[str]
    seen_values: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, options: ConditioningSettings) -> HeaderFormat:
        return cls(options.template, list(options.fields))

    @classmethod
    def from_json(cls, data: Any, source: str) -> HeaderFormat:
        """A header format read from ``source`` (a file name for the message), checked field by field."""
        try:
            header_format = msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"{source}: not a header format: {exc}") from exc
        if header_format.template not in TEMPLATES:
            raise ValueError(f"{source}: unknown template {header_format.template!r}; one of {', '.join(TEMPLATES)}")
        return header_format

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_seen(self, seen: dict[str, dict[str, int]]) -> HeaderFormat:
        return replace(self, seen_values=seen)

    def header(self, labels: dict[str, Any]) -> str:
        """The full header of ``labels`` in this format (no dropout: what a user's request renders to)."""
        return TEMPLATES[self.template](labels, self.fields)
