"""Markdown that data cannot break out of: the model and dataset cards write labels, shard names and versions
only through these, so a label cannot turn into Markdown structure, HTML or card metadata."""

from __future__ import annotations

import re


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def fenced(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it (CommonMark)."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def code(text: str) -> str:
    """An inline code span that no backtick inside ``text`` can close; line breaks become spaces."""
    text = text.replace("\n", " ")
    ticks = "`" * (_longest_backtick_run(text) + 1)
    return f"{ticks} {text} {ticks}" if len(ticks) > 1 else f"`{text}`"


def cell(value: object) -> str:
    """A table cell: a code span with pipes escaped (GFM splits cells on them even inside code)."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return f"`{text}`"
