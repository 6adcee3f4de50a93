"""The closed vocabularies of labels and the special tokens that carry them.

One place for every value set that labelers emit, templates render, the tokenizer registers as control
tokens, checks validate and the CLI offers: changing a set here changes all of them together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

RATINGS = ("G", "PG", "PG-13", "R")
SENTIMENTS = ("positive", "negative", "neutral", "unknown")  # unknown: the labeler gave none
STEERABLE_SENTIMENTS = ("positive", "negative", "neutral")
# The document's format (genre / register), after WebOrganizer's format domains (Wettig et al. 2025), merged
# to what a small encoder tells apart; "unknown": the labeler gave none. Slugs, so each is one control token.
FORMATS = (
    "news",
    "fiction",
    "poetry",
    "academic",
    "encyclopedic",
    "tutorial",
    "review",
    "opinion",
    "essay",
    "personal-blog",
    "forum",
    "email",
    "legal",
    "product-page",
    "speech",
    "transcript",
    "code",
    "list",
    "unknown",
)
STEERABLE_FORMATS = FORMATS[:-1]
LENGTHS = ("short", "medium", "long", "very long")
LENGTH_LIMITS = ((100, "short"), (500, "medium"), (2000, "long"))  # words below each limit; beyond: very long
UNDETERMINED_LANGUAGE = "und"

# Label contract (blocking checks on document_labels).
SYNOPSIS_MAX_CHARS = 200
MAX_TAGS = 16  # what a labels file may hold; the composite labeler emits at most 10

# Conditioning fields, in the order a header may render them, and those with a finite value set.
CONDITION_FIELDS = ("rating", "sfw", "format", "topics", "tags", "sentiment", "language", "length", "synopsis")
CLOSED_FIELDS = ("rating", "sfw", "format", "topics", "sentiment", "language", "length")

EOS = "<|endoftext|>"
PAD = "<|pad|>"
BODY_TOKEN = "<|body|>"  # ends every header: text after it can never pose as a label
TAGS_MARKER = "<|tags|>"
SYNOPSIS_MARKER = "<|synopsis|>"
MARKERS = (TAGS_MARKER, SYNOPSIS_MARKER)


CONTROL_OPEN = "<|"  # every token above starts so; free text never holds it (see inert_text)
_SLUG = re.compile(r"[A-Za-z0-9_.+\-]+")
_WHITESPACE = re.compile(r"\s+")


def control_token(field_name: str, value: Any) -> str:
    """``<|rating:PG|>``, ``<|topic:politics|>``, ``<|sfw:true|>``: one special token per closed value.

    A value that is not a slug (letters, digits, ``_ . + -``; spaces become ``_``) is refused: a value such as
    ``x|><|rating:R`` would otherwise render a second, forged token."""
    if isinstance(value, bool):
        value = str(value).lower()
    slug = str(value).strip().replace(" ", "_")
    if not _SLUG.fullmatch(slug):
        raise ValueError(f"{field_name} value {str(value)[:80]!r} cannot be a control token (expected a slug)")
    return f"<|{field_name}:{slug}|>"


def inert_text(value: Any) -> str:
    """Free text (a synopsis, a tag, a user's option) as it may appear in a header: one line, and never the
    opening of a control token, so no tokenizer can read a label, ``<|body|>`` or ``<|endoftext|>`` in it.
    ``<|`` becomes ``< |``; the text stays readable and the same rule applies in training and at generation."""
    return _WHITESPACE.sub(" ", str(value)).strip().replace(CONTROL_OPEN, "< |")


def control_vocabulary(topics: Iterable[str], languages: Iterable[str]) -> list[str]:
    """Every special token the templates can emit, in a stable order."""
    closed = {
        "rating": RATINGS,
        "sfw": (True, False),
        "format": FORMATS,
        "sentiment": SENTIMENTS,
        "length": LENGTHS,
        "topic": tuple(topics),
        "language": tuple(languages),
    }
    return [BODY_TOKEN, *MARKERS] + [control_token(f, v) for f, values in closed.items() for v in values]
