"""The words a student met on its teacher sample, saved beside it, so that every labelling process starts warm.

The student computes, per distinct word, what only Python computes (labelers/word_table.py): its token ids in
the static model, its syllables, its rating-lexicon tiers, its lemma and whether it can be a tag. A process
that starts empty pays for every word again: a shard's first documents ran at about half a warm process's
speed (BENCHMARKS.md, issue 29, part 7). Training labels the whole teacher sample once more and keeps those tables
in ``<student>/words/``:

| file                   | columns                                     | computed by                        |
|------------------------|---------------------------------------------|------------------------------------|
| ``static.parquet``     | word (str), ids (list[int32])               | the student's own tokenizer        |
| ``syllables.parquet``  | word (str), syllables (int64)               | pyphen (readability)               |
| ``tiers.parquet``      | word (str), tiers (int64: a bit per tier)   | the lexicon (rating_rules.toml)    |
| ``candidates.parquet`` | token (str), lemma (str), good (bool)       | simplemma, lemminflect, stop words |
| ``computed_by.json``   | what computed the last three (:func:`computed_by`)                               |

The tables change speed, never labels: a table whose ``computed_by`` differs from this environment's (another
pyphen or simplemma, an edited lexicon or rule code) is not used, and its words are computed as they come.
The files are part of the student, so they are in its version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from importlib import metadata
from pathlib import Path

import polars as pl

from condpt_dagster.core.hashing import file_sha256
from condpt_dagster.core.io import atomic_output
from condpt_dagster.labelers import rules, tags

WORDS_DIR = "words"
COMPUTED_BY = "computed_by.json"
TABLES = ("static", "syllables", "tiers", "candidates")
_ENVIRONMENT_TABLES = ("syllables", "tiers", "candidates")  # "static" depends on the student's files alone

log = logging.getLogger(__name__)


def computed_by(generic: frozenset[str]) -> dict[str, str]:
    """What the per-word values depend on beyond the student's own files: libraries, lexicon, rule code."""
    words = "\n".join(sorted(generic)).encode()
    return {
        "python": platform.python_version(),  # str.lower and the regex engines follow its Unicode tables
        **{name: metadata.version(name) for name in ("pyphen", "simplemma", "lemminflect", "scikit-learn")},
        "rating_rules": file_sha256(rules.RATING_RULES),
        "rules_code": file_sha256(rules.__file__),
        "tags_code": file_sha256(tags.__file__),
        "generic_words": hashlib.sha256(words).hexdigest(),
    }


def save(folder: Path, tables: dict[str, pl.DataFrame], generic: frozenset[str]) -> None:
    """Write ``tables`` (names in :data:`TABLES`) and what computed them into ``folder``."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown word tables {sorted(unknown)}; expected some of {TABLES}")
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        with atomic_output(folder / f"{name}.parquet") as tmp:
            frame.write_parquet(tmp, compression="zstd")
    with atomic_output(folder / COMPUTED_BY) as tmp:
        tmp.write_text(json.dumps(computed_by(generic), indent=1, sort_keys=True), encoding="utf-8")


def load(folder: Path, generic: frozenset[str]) -> dict[str, pl.DataFrame]:
    """The tables in ``folder`` that this environment would compute alike; {} for a student without them."""
    if not folder.is_dir():
        return {}
    names = [n for n in TABLES if (folder / f"{n}.parquet").is_file()]
    try:
        saved = json.loads((folder / COMPUTED_BY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    current = computed_by(generic)
    if saved != current and any(n in _ENVIRONMENT_TABLES for n in names):
        changed = sorted(k for k in current if not isinstance(saved, dict) or saved.get(k) != current[k])
        log.warning("%s: word tables computed by another %s; computing those words again", folder, changed)
        names = [n for n in names if n not in _ENVIRONMENT_TABLES]
    out = {}
    for name in names:
        path = folder / f"{name}.parquet"
        try:
            out[name] = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as err:
            raise ValueError(f"{path}: not a readable word table ({err})") from err
    return out


def load_word_functions() -> None:
    """Load the tables behind the per-word values (simplemma's dictionary, lemminflect's, pyphen's patterns:
    ~0.7 s) when the student loads, not when a process that started with saved words meets its first new one."""
    tags.can_describe(tags.lemma("words"))
    rules.syllables("words")
