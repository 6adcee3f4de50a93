"""``condpt audit show --id ID``: one document as an auditor needs to see it — an excerpt of its text, every label
with its score, and the evidence behind each (the nearest topic prototypes, the sentiment's parts, the tag
scores, the labeler's fallbacks), read from the audit database's own tables (no file access).

The queries are parametrized and go through the audit sandbox like every other audit query; the rendering is
a pure function of their rows.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

# documents and labels of an id, in every shard that has it (or the one asked for)
DOCUMENT_SQL = """
SELECT d.shard, d.id, d.source, d.chars, d.line, d.excerpt, l.labeler, l.labeler_version, l.format, l.topics,
       l.rating, l.sfw, l.sentiment, l.tags, l.language, l.synopsis, l.length, l.readability, l.scores, l.error
FROM documents d LEFT JOIN labels l ON l.shard = d.shard AND l.id = d.id
WHERE d.id = ? AND (? IS NULL OR d.shard = ?) ORDER BY d.shard
"""
REMOVED_SQL = """
SELECT shard, id, line, reason, duplicate_of, duplicate_shard, similarity FROM removed
WHERE id = ? AND (? IS NULL OR shard = ?) ORDER BY shard
"""
EXCERPT_CHARS = 600  # what label_audit keeps of each clean text (documents.excerpt)
RUNNERS_UP = 3  # topic prototypes shown after the chosen ones


def _scores(row: dict[str, Any]) -> dict[str, float]:
    try:
        parsed = json.loads(row.get("scores") or "{}")
    except json.JSONDecodeError:
        return {}
    return {k: float(v) for k, v in parsed.items() if isinstance(v, int | float)}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}" if value < 0 else f"{value:.3f}"


def _format_line(chosen: str, scores: dict[str, float]) -> str:
    """The format, its score, the runner-up format and the layout cues that moved the choice most."""
    others = [f"{k[7:]} {_fmt(v)}" for k, v in scores.items() if k.startswith("format:") and k[7:] != chosen]
    cues = [f"{k[4:]} {_fmt(v)}" for k, v in scores.items() if k.startswith("cue:")]
    why = ([f"next: {', '.join(others)}"] if others else []) + ([f"layout cues: {', '.join(cues)}"] if cues else [])
    return f"format      {chosen}  score {_fmt(scores.get(f'format:{chosen}'))}" + (
        f"  ({'; '.join(why)})" if why else ""
    )


def evidence_lines(row: dict[str, Any]) -> list[str]:
    """One line per label: the value, its score and what decided it."""
    scores = _scores(row)
    topics = sorted(((k[6:], v) for k, v in scores.items() if k.startswith("topic:")), key=lambda kv: -kv[1])
    chosen = set(row.get("topics") or [])
    runners = [f"{name} {_fmt(v)}" for name, v in topics if name not in chosen][:RUNNERS_UP]
    parts = [f"{p} {_fmt(scores[f'sentiment:{p}'])}" for p in ("lexicon", "encoder") if f"sentiment:{p}" in scores]
    tags = ", ".join(f"{t} {_fmt(scores.get(f'tag:{t}'))}" for t in row.get("tags") or []) or "(none)"
    topic_text = ", ".join(f"{t} {_fmt(scores.get(f'topic:{t}'))}" for t in row.get("topics") or []) or "(none)"
    fallback = f"; fell back: {row['error']}" if row["error"] else ""
    return [
        _format_line(row["format"], scores),
        f"topics      {topic_text}  (similarity to the topic prototypes; next: {', '.join(runners) or 'none'})",
        f"rating      {row['rating']}  score {_fmt(scores.get('rating'))}  sfw {row['sfw']}",
        f"sentiment   {row['sentiment']}  score {_fmt(scores.get('sentiment'))}"
        + (f"  ({', '.join(parts)})" if parts else ""),
        f"tags        {tags}",
        f"language    {row['language']}  score {_fmt(scores.get('language'))}",
        f"synopsis    {row['synopsis']}  (closeness to the document {_fmt(scores.get('synopsis'))})",
        f"length      {row['length']}, readability grade {_fmt(row.get('readability'))}",
        f"labeler     {row['labeler']} {row['labeler_version']}{fallback}",
    ]


def render_card(documents: list[dict[str, Any]], removed: list[dict[str, Any]]) -> str:
    """The document (in each shard that has it) and any removal of that id, as text."""
    out = []
    for row in documents:
        out.append(f"document {row['id']}  shard {row['shard']}, line {row['line']}, source {row['source']}, "
                   f"{row['chars']:,} characters")  # fmt: skip
        excerpt = " ".join((row.get("excerpt") or "").split())
        more = " …" if (row["chars"] or 0) > EXCERPT_CHARS else ""
        out += textwrap.wrap(excerpt + more, 100, initial_indent="  | ", subsequent_indent="  | ") or ["  | (empty)"]
        out += ["  " + line for line in evidence_lines(row)] if row.get("labeler") else ["  (not labelled yet)"]
    for row in removed:
        duplicate = f" of {row['duplicate_of']} in {row['duplicate_shard']}" if row.get("duplicate_of") else ""
        similarity = f" (similarity {row['similarity']:.2f})" if row.get("similarity") is not None else ""
        where = f"shard {row['shard']}, line {row['line']}"
        out.append(f"removed {row['id']}  {where}: {row['reason']}{duplicate}{similarity}")
    return "\n".join(out)
