"""What it takes for polars (the regex crate) to read text the way Python's ``re`` does.

The batch rules (format cues, sentence splitting, tag candidates, rule labels) run in polars and must equal
the per-document Python definitions. The engines disagree on three character classes, and these helpers
bridge them:

- ``\\s``: Python's (``str.isspace``) is the regex crate's plus the separators ``\\x1c``-``\\x1f``: write
  :data:`SPACE` in a pattern, :data:`PYTHON_SPACE` to strip;
- ``\\w`` (and so ``\\b``): Python's is letters, numbers and ``_``; the regex crate's adds marks, other
  connector punctuation, the joiners and alphabetic symbols (Ⓐ) and lacks other numbers (½).
  :func:`with_python_words` replaces each character where they differ by one that both read the same way;
- ``re.IGNORECASE`` matches four non-ASCII letters to ASCII ones (İ, ı, ſ, K): format.py folds them.
"""

from __future__ import annotations

import polars as pl

SPACE = r"[\s\x1c-\x1f]"  # Python's \s in a regex-crate pattern
NOT_SPACE = r"[^\s\x1c-\x1f]"
PYTHON_SPACE = "".join(chr(c) for c in (*range(9, 14), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)))
PYTHON_SPACE += "\u2028\u2029\u202f\u205f\u3000"  # every character str.isspace() accepts

_ONLY_PYTHON_WORD = r"\p{No}"  # other numbers: \w for Python, not for the regex crate
_ONLY_RUST_WORD = r"[\w&&[^\p{L}\p{N}_]]"  # marks, connectors, joiners, alphabetic symbols: the reverse
_WORD_STANDIN = "\u4e00"  # a letter (CJK "one"): \w for both, not a digit, not ASCII
_OTHER_STANDIN = "\u2400"  # a symbol (␀): \w for neither, not white space, in no pattern


def with_python_words(texts: pl.Series) -> pl.Series:
    """``texts`` with every character whose \\w differs between the engines replaced by a stand-in that both
    read as Python reads the original (pure-ASCII texts, the usual case, are returned as they are)."""
    if (texts.str.len_bytes() == texts.str.len_chars()).all():
        return texts
    return texts.str.replace_all(_ONLY_PYTHON_WORD, _WORD_STANDIN).str.replace_all(_ONLY_RUST_WORD, _OTHER_STANDIN)
