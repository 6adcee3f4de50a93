"""What a steering request asks for, and how a label row answers it.

``plan_requests`` picks the values of each steerable field that the training data has enough documents for;
``label_value`` / ``carries`` read a label row's value the way the experiment compares it with a judge's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from condpt_dagster.core.settings import ExperimentSettings

STEERABLE_FIELDS = ("rating", "format", "topics", "sentiment", "tags")


@dataclass
class Requests:
    """The values asked for per steerable field, and why the other fields are not steerable."""

    values: dict[str, list[str]]
    not_steerable: dict[str, str]


def plan_requests(seen: dict[str, dict[str, int]], fields: Sequence[str], options: ExperimentSettings) -> Requests:
    """Values with at least ``min_value_docs`` training documents: every rating, sentiment and tag, the most
    frequent ``values_per_field`` formats and topics."""
    values, missing = {}, {}
    for name in STEERABLE_FIELDS:
        counts = {v: n for v, n in seen.get(name, {}).items() if n >= options.min_value_docs}
        if name not in fields:
            missing[name] = f"the blocks carry no {name} labels (conditioning fields: {', '.join(fields)})"
        elif not counts:
            missing[name] = f"no {name} value has {options.min_value_docs}+ training documents"
        elif len(counts) == 1 and name != "tags":
            missing[name] = f"every training document has {name} {next(iter(counts))}: nothing to steer between"
        else:
            ranked = sorted(counts, key=lambda v: (-counts[v], v))  # every tag: diagnostics.visible_tags cuts them
            values[name] = ranked if name in ("rating", "sentiment", "tags") else ranked[: options.values_per_field]
    return Requests(values, missing)


LIST_FIELDS = ("topics", "tags")


def request_labels(name: str, value: str) -> dict[str, Any]:
    """The labels of a steering request: one field holding one value."""
    return {name: [value] if name in LIST_FIELDS else value}


def label_value(row: dict[str, Any], name: str) -> str | None:
    """A label row's value of ``name`` (the first of a list field), None when absent or unknown."""
    value = row.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value if value not in (None, "", "unknown") else None


def carries(row: dict[str, Any], name: str, value: str) -> bool:
    """Whether a label row carries ``value``: any of its tags, its first topic, or the field's value."""
    return value in (row.get("tags") or []) if name == "tags" else label_value(row, name) == value
