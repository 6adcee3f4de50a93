"""Layout and wording cues of a document's format, each a rate in [0, 1] (labelers/format.py scores them).

Line structure (code, lists, verse, speaker turns), dialogue, third-person narration, numbers and names (news),
reported speech (news, fiction; not encyclopedias), first-person voice (blogs, reviews, forums), legal and
scholarly formulae, and an opinion piece's sign-off that its views are the author's own: what a sentence encoder
cannot see. ``cue_matrix`` computes them for a batch, ``layout_cues`` for one document.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from condpt_dagster.labelers.pyregex import SPACE, with_python_words

# The cues run over a whole batch in polars (the regex crate: one pass per pattern per batch, several times
# faster than Python's re). They equal the per-document Python definitions they replaced
# (tests/cue_oracle.py): pyregex.py bridges the engines' \s, \w and case-insensitive matching.
_S = SPACE
_CODE_LINE = (
    rf"^{_S}*(?:def |class |import |from \S+ import|#include|return\b|if .*:$|for .*:$|\}}|\{{|//|/\*|<\w+[^>]*>$)"
    rf"|[;{{}}]{_S}*$|^{_S}{{4,}}[^\s\x1c-\x1f].*[=(].*"
)
_LIST_LINE = rf"^(?:{_S}*(?:[-*•·▪]|\d{{1,3}}[.)]|[a-z][.)]){_S}+[^\s\x1c-\x1f]|\|.*\|)"  # re.match: anchored
_SPEAKER_LINE = rf"^{_S}*([A-Z][A-Za-z.'\-]*(?: [A-Z][A-Za-z.'\-]*){{0,3}}){_S}*:{_S}+[^\s\x1c-\x1f]"  # 1: name
# A play script's turn: the speaker's name or its abbreviation, a period, the speech ("Ham. Whither wilt thou leade
# me?", "Old M. Oh, ma'am", "LUCY (aside). Poor old man!"), where the same name opens another line of the text; not
# an abbreviation or a heading that opens a sentence ("Mr. Darcy bowed.", "CHAPTER I. Down the Rabbit-Hole"), nor a
# one-word sentence that opens a paragraph once ("Yes. She would go."). Group 1: the name.
_PLAY_SPEAKER = (
    rf"^{_S}*([A-Z][a-z]{{1,11}}(?: [A-Z][a-z]{{0,11}}){{0,2}}|[A-Z][A-Z'\-]{{1,15}}(?: [A-Z][A-Z'\-]{{1,15}}){{0,2}})"
    rf"(?: \([a-z][^)\n]{{0,30}}\))?\.{_S}+[^\s\x1c-\x1f]"
)
_ABBREVIATIONS = (
    *("Mr", "Mrs", "Ms", "Mme", "Mlle", "Messrs", "Dr", "St", "Ste", "Mt", "Ft", "Jr", "Sr", "No", "Nos", "Vol"),
    *("Fig", "Gen", "Sen", "Rep", "Gov", "Col", "Lt", "Capt", "Sgt", "Cmdr", "Adm", "Maj", "Prof", "Rev", "Hon"),
    *("Pres", "Fr", "Co", "Inc", "Ltd", "Corp", "Dept", "Bros", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug"),
    *("Sep", "Sept", "Oct", "Nov", "Dec", "Ave", "Blvd", "Rd", "Ch", "Sec", "Art", "Ex", "Op", "Ps", "Vs", "Viz"),
    *("Etc", "Cf", "Ed", "Eds", "Pp", "Ca", "Approx", "Eq", "Ref", "Tel"),
)
_HEADINGS = ("Chapter", "Book", "Part", "Scene", "Act", "Section", "Volume", "Canto", "Article", "Stave", "Letter")
_NOT_PLAY_SPEAKER = rf"^{_S}*(?:(?:{'|'.join(w for a in _ABBREVIATIONS for w in (a, a.upper()))})\.|" + (
    rf"(?:{'|'.join(w for h in _HEADINGS for w in (h, h.upper()))}) )"
)
# A verse line opens with a capital, after at most one quotation mark or bracket (wrapped prose mostly does not)
_CAPITAL_LINE = rf"^{_S}*[\"“‘'(\[]?[A-Z]"
# Mail: an archive's header lines, quoted reply lines (not a Python prompt's >>>), "... wrote:", a signature
# delimiter, a forwarded original. A header line also looks like a speaker's turn ("From: Ann"): it is not one.
_MAIL_HEADER = rf"^{_S}*(?:From|To|Cc|Bcc|Subject|Date|Sent|Reply-To){_S}*:{_S}+[^\s\x1c-\x1f]"
_MAIL_LINE = (
    rf"{_MAIL_HEADER}|^{_S}*>(?:{_S}|$|>{_S}|>$|[^>\s\x1c-\x1f])|wrote:{_S}*$|^--{_S}?$|^-+ ?Original Message ?-+"
)
_QUOTE_START = rf"^{_S}*[\"“‘']"
_QUOTE = r"[\"“”]"
_SENTENCE_END = rf"[.!?](?:{_S}|$)"
_LOWER_WORD = r"[a-z']+"  # words as the cues count them ([A-Za-z']+, lower-cased)
_NARRATIVE = ("he", "she", "him", "her", "his", "had", "was", "were", "said", "asked", "looked")
_NARRATIVE += ("thought", "felt", "knew", "replied")
_FIRST_PERSON = ("i", "me", "my", "mine", "i'm", "i've", "i'd", "myself")
_SECOND_PERSON = ("you", "your", "you're", "yours")
# A capitalized word after a lower-case letter, comma or semicolon and a space (a name mid-sentence). The regex
# crate has no look-behind: every space before a capitalized word is counted, minus those after any other
# character or at the very start (neither pattern can overlap itself).
_SPACE_CAPITAL, _OTHER_SPACE_CAPITAL = " [A-Z][a-z]", "[^a-z,;] [A-Z][a-z]"
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
# Line breaks as str.splitlines() knows them, for a character class: an index or a backquoted span stays on one line
_BREAKS = r"\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
# Wording cues: cue -> (pattern, matches per word that count as a full 1.0).
# Case-insensitive ones (all but news and digits) run on the folded text (see _folded), which is much faster
# than the regex crate's (?i) with Unicode word boundaries.
_WORDING: dict[str, tuple[str, float]] = {
    # legal formulae and the words of licences and contracts ("License" itself: a licence's most frequent word)
    "legal": (
        r"\b(?:shall|hereby|herein|thereof|thereto|hereunder|pursuant|notwithstanding|"
        r"licen[cs](?:e|es|ed|ee|ees|er|ing|ors?)|warrant(?:y|ies)|liab(?:le|ility)|copyright(?:s|ed)?|"
        r"indemnif(?:y|ies|ied|ication)|terms and conditions|provided that|in accordance with)\b|§",
        0.01,
    ),
    "academic": (
        r"\bet al\.|\bin this (?:paper|study)\b|\bwe (?:propose|present)\b|\[\d+\]|\(\w+,? \d{4}\)",
        0.005,
    ),
    "steps": (r"\b(?:step \d|first,|next,|then,|finally,|click|select|preheat|stir|install|tap)\b", 0.01),
    "commerce": (r"\$\d|\b(?:buy|price|shipping|order now|discount|sale|free trial|add to cart)\b", 0.01),
    "news": (rf"\b(?:said on {_DAY}|according to|officials?|spokes(?:man|woman)|told reporters|reported)\b", 0.005),
    # who said what: a report's and a story's verbs of speech, which an encyclopedia article hardly uses (82% of
    # the dev news stories have one per 200 words, 1% of the Wikipedia passages)
    "reported_speech": (r"\b(?:said|says|told|asked)\b", 0.01),
    "forum": (r"\b(?:re:|reply|replied|posted|thread|thanks in advance|anyone know|lol|imho)\b", 0.005),
    # code inside prose: empty-call parentheses, method calls, snake_case and __dunder__ names, indexing, grammar
    # rules (::=), comparison operators, backquoted spans; a programming language's reference names them in its
    # sentences (dev tune split: 92% of the Python reference's passages reach 1 per 100 words; no news story,
    # novel passage, speech or Wikipedia article does); an encyclopedia article about a language hardly ever does
    "code_tokens": (
        r"\b[a-z_][a-z0-9_]*\(\)|\b[a-z_]\w*\.[a-z_]\w*\(|\b[a-z][a-z0-9]*_[a-z0-9_]+\b|\b__\w+__\b|"
        rf"\b[a-z_]\w*\[[^\]{_BREAKS}]{{0,20}}\]|::=|==|!=|<=|>=|`[^`{_BREAKS}]{{1,40}}`",
        0.02,
    ),
    "digits": (r"\b\d[\d,.:%$]*\b", 0.05),
    # a speaker addressing an audience (speeches: the chair, the House, fellow citizens)
    "address": (
        r"\b(?:mr\.? speaker|madam (?:deputy )?speaker|mr\.? president|madam president|ladies and gentlemen|"
        r"my fellow|hon(?:ou?rable|\.) (?:members?|friends?|gentleman|lady)|i rise|i beg to move|i urge|"
        r"i ask (?:the )?(?:congress|house)|members of (?:the )?(?:congress|house|senate))\b",
        0.004,
    ),
}
# An opinion piece that says so: newspapers sign op-eds and columns off with "the views expressed in this article
# are the author's own" (23 of the 33 dev test op-eds; no other dev document), never a report. A declaration, not a
# rate: 1.0 with one match, however long the text. Third person only: "all opinions expressed are my own" is how a
# sponsored review or blog post discloses a free sample, not an op-ed.
_VIEWS_OWN = (
    r"\b(?:views|opinions) expressed[a-z'’ ,]{0,60}? (?:are|is) (?:solely |entirely )?(?:(?:the|this) (?:author|"
    r"writer|columnist|contributor)(?:['’]s|s['’]|s)? own|(?:his|her|their) own|(?:those|that) of (?:the|"
    r"its|their) (?:authors?|writers?|columnists?|contributors?))\b"
)
_CASE_SENSITIVE = frozenset({"news", "digits"})
# Python's re.IGNORECASE matches four non-ASCII letters to ASCII ones; str.lower() turns two of them into ASCII.
_IGNORECASE_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_LOWER_TO_ASCII = ("\u0130", "\u212a")  # not letters of [A-Za-z'] words before lower-casing, letters after
# Line breaks as str.splitlines() knows them (the separators \x1c-\x1e are already newlines, see _as_python).
_LINE_BREAK = r"\r\n|[\r\x0b\x0c\x85\u2028\u2029]"
LINE_CUES: dict[str, tuple[str, float]] = {  # cue -> (pattern a line must contain, typical rate)
    "code_lines": (_CODE_LINE, 0.4),
    "list_lines": (_LIST_LINE, 0.5),
    "speaker_lines": (_SPEAKER_LINE, 0.4),  # and a play's turns, where names recur: _speaker_turns
    "dialogue_lines": (_QUOTE_START, 0.3),
    "mail_lines": (_MAIL_LINE, 0.15),
}
WORD_CUES: dict[str, tuple[tuple[str, ...], float]] = {  # cue -> (words counted, typical rate)
    "narrative": (_NARRATIVE, 0.08),
    "first_person": (_FIRST_PERSON, 0.05),
    "second_person": (_SECOND_PERSON, 0.04),
}
# The cues the student reads beside its embedding (no wording patterns), then every cue, in matrix order.
STRUCTURE_CUES = (
    *("code_lines", "list_lines", "verse_lines", "speaker_lines", "dialogue", *WORD_CUES, "dialogue_lines"),
    "mail_lines",
)
CUES = (*STRUCTURE_CUES, *_WORDING, "proper_nouns", "views_own")


def _rate(count: np.ndarray, total: np.ndarray, saturation: float) -> np.ndarray:
    """count/total scaled so that ``saturation`` (a typical rate for the format) maps to 1.0, at most 1.0."""
    return np.minimum(1.0, count / np.maximum(total, 1.0) / saturation)


def _as_python(texts: pl.Series) -> pl.Series:
    r"""Texts on which the regex crate's \s and line splitting agree with Python's: the separators \x1c-\x1e
    (line breaks for str.splitlines) become newlines and \x1f (white space, not a break) a tab."""
    if not texts.str.contains(r"[\x1c-\x1f]").any():
        return texts
    return texts.str.replace_all(r"[\x1c-\x1e]", "\n").str.replace_all("\x1f", "\t", literal=True)


def _folded(texts: pl.Series) -> pl.Series:
    """Lower-cased texts on which a plain pattern of lower-case ASCII matches what Python's re.IGNORECASE
    pattern matches on the texts."""
    specials = list(_IGNORECASE_ASCII)
    return texts.str.replace_many(specials, [_IGNORECASE_ASCII[c] for c in specials]).str.to_lowercase()


def _counts(texts: pl.Series) -> pl.DataFrame:
    """Per text: lines (non-blank) and what matches per line, words, sentences and every pattern's count."""
    text, lines, words, folded = pl.col("text"), pl.col("lines"), pl.col("words"), pl.col("folded")
    frame = pl.DataFrame({"text": texts, "folded": _folded(texts)}).with_columns(
        lines=text.str.replace_all(_LINE_BREAK, "\n")
        .str.split("\n")
        .list.eval(pl.element().filter(pl.element().str.strip_chars() != "")),
        # [A-Za-z']+ words, lower-cased: the letters that lower-casing would turn into ASCII stay separators
        words=text.str.replace_many(list(_LOWER_TO_ASCII), [" "] * len(_LOWER_TO_ASCII))
        .str.to_lowercase()
        .str.extract_all(_LOWER_WORD),
    )
    line = pl.element()
    return frame.select(
        n_lines=lines.list.len(),
        median_line=lines.list.eval(line.str.len_chars()).list.median(),
        capital_lines=lines.list.eval(line.str.contains(_CAPITAL_LINE)).list.sum(),
        n_words=words.list.len(),
        sentences=text.str.count_matches(_SENTENCE_END),
        quotes=text.str.count_matches(_QUOTE),
        proper=text.str.count_matches(_SPACE_CAPITAL)
        - text.str.count_matches(_OTHER_SPACE_CAPITAL)
        - text.str.contains("^" + _SPACE_CAPITAL).cast(pl.UInt32),
        **{cue: lines.list.eval(_line_matches(cue, p)).list.sum() for cue, (p, _) in LINE_CUES.items()},
        **{cue: words.list.eval(line.is_in(list(ws))).list.sum() for cue, (ws, _) in WORD_CUES.items()},
        **{cue: (text if cue in _CASE_SENSITIVE else folded).str.count_matches(p) for cue, (p, _) in _WORDING.items()},
        views_own=folded.str.contains(_VIEWS_OWN).cast(pl.Float64),
    )


def _line_matches(cue: str, pattern: str) -> pl.Expr:
    return _speaker_turns() if cue == "speaker_lines" else pl.element().str.contains(pattern)


def _speaker_turns() -> pl.Expr:
    """The lines of a list that are speakers' turns: Q: / A:, or a name (NAME: ..., a play's Name. ...) that opens
    another of its lines too, in any case ("LUCY (aside)." is Lucy's turn), where two names or more open lines. A
    label that opens one line ("ANALYSIS: Trump revels ...", "Keywords: ...", "Finally: ...") is not a speaker."""
    line = pl.element()
    said = pl.when(~line.str.contains(_MAIL_HEADER)).then(line.str.extract(_SPEAKER_LINE, 1))
    acted = pl.when(~line.str.contains(_NOT_PLAY_SPEAKER)).then(line.str.extract(_PLAY_SPEAKER, 1))
    name = pl.coalesce(said, acted).str.to_lowercase()
    conversation = name.drop_nulls().n_unique() >= 2  # one title repeated ("Scanners II: ...") is no dialogue
    return said.is_in(["Q", "A"]).fill_null(False) | (name.is_not_null() & name.is_duplicated() & conversation)


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    """``len(texts) x len(CUES)`` cue rates in [0, 1], columns in ``CUES`` order (markup already stripped)."""
    if not texts:
        return np.zeros((0, len(CUES)))
    counts = _counts(with_python_words(_as_python(pl.Series("text", list(texts), dtype=pl.String))))
    col = {name: counts[name].to_numpy().astype(np.float64) for name in counts.columns if name != "median_line"}
    n_lines, n_words, sentences = col["n_lines"], col["n_words"], np.maximum(col["sentences"], 1.0)
    median_line = counts["median_line"].fill_null(0.0).to_numpy()
    rates = {cue: _rate(col[cue], n_lines, typical) for cue, (_, typical) in LINE_CUES.items()}
    rates |= {cue: _rate(col[cue], n_words, typical) for cue, (_, typical) in WORD_CUES.items()}
    rates |= {cue: _rate(col[cue], n_words, full) for cue, (_, full) in _WORDING.items()}
    rates["verse_lines"] = verse(n_lines, median_line, col["capital_lines"], sentences)
    rates["dialogue"] = _rate(col["quotes"] / 2, sentences, 0.3)
    rates["proper_nouns"] = _rate(col["proper"], n_words, 0.08)
    rates["views_own"] = col["views_own"]
    return np.column_stack([rates[cue] for cue in CUES])


def verse(n_lines: np.ndarray, median_line: np.ndarray, capital_lines: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """1.0 where the lines are verse: four or more, more lines than sentences, and short (median under 50
    characters), or under 70 when most open with a capital (Whitman's long lines; wrapped prose and mail open most
    of theirs in lower case): ``poetry``'s required cue."""
    short = (median_line < 50) | ((median_line < 70) & (capital_lines >= 0.6 * n_lines))
    return ((n_lines >= 4) & short & (sentences < n_lines * 0.8)).astype(np.float64)


def layout_cues(text: str) -> dict[str, float]:
    """Cue rates in [0, 1] for one document (markup already stripped); batches use :func:`cue_matrix`."""
    return dict(zip(CUES, cue_matrix([text])[0].tolist(), strict=True))
