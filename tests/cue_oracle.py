"""The teacher's layout cues as they were written before they ran in polars (per document, Python's re):
the oracle that labelers/format_cues.py's batch implementation is checked against (test_format_cues.py)."""

import re
from collections import Counter
from statistics import median

from condpt_dagster.labelers.format_cues import _ABBREVIATIONS, _HEADINGS

_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|#include|return\b|if .*:$|for .*:$|\}|\{|//|/\*|<\w+[^>]*>$)"
    r"|[;{}]\s*$|^\s{4,}\S.*[=(].*"
)
_LIST_LINE = re.compile(r"^\s*(?:[-*•·▪]|\d{1,3}[.)]|[a-z][.)])\s+\S|\|.*\|")
_SPEAKER_LINE = re.compile(r"^\s*([A-Z][A-Za-z.'\-]*(?: [A-Z][A-Za-z.'\-]*){0,3})\s*:\s+\S")
_MAIL_HEADER = re.compile(r"^\s*(?:From|To|Cc|Bcc|Subject|Date|Sent|Reply-To)\s*:\s+\S")
_PLAY_SPEAKER = re.compile(
    r"^\s*([A-Z][a-z]{1,11}(?: [A-Z][a-z]{0,11}){0,2}|[A-Z][A-Z'\-]{1,15}(?: [A-Z][A-Z'\-]{1,15}){0,2})"
    r"(?: \([a-z][^)\n]{0,30}\))?\.\s+\S"
)
_NOT_PLAY_SPEAKER = re.compile(
    rf"^\s*(?:(?:{'|'.join(w for a in _ABBREVIATIONS for w in (a, a.upper()))})\.|"
    rf"(?:{'|'.join(w for h in _HEADINGS for w in (h, h.upper()))}) )"
)
_CAPITAL_LINE = re.compile(r"^\s*[\"“‘'(\[]?[A-Z]")
_MAIL_LINE = re.compile(
    rf"{_MAIL_HEADER.pattern}|^\s*>(?:\s|$|>\s|>$|[^>\s])|wrote:\s*$|^--\s?$|^-+ ?Original Message ?-+"
)
_QUOTE = re.compile(r"[\"“”]")
_WORD = re.compile(r"[A-Za-z']+")
_NARRATIVE = frozenset(("he", "she", "him", "her", "his", "had", "was", "were", "said", "asked", "looked"))
_NARRATIVE |= {"thought", "felt", "knew", "replied"}
_FIRST_PERSON = frozenset(("i", "me", "my", "mine", "i'm", "i've", "i'd", "myself"))
_SECOND_PERSON = frozenset(("you", "your", "you're", "yours"))
_PROPER = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")
_QUOTE_START = re.compile(r"^\s*[\"“‘']")
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
# Wording cues: cue -> (pattern, matches per word that count as a full 1.0).
_WORDING: dict[str, tuple[re.Pattern[str], float]] = {
    "legal": (
        re.compile(
            r"\b(?:shall|hereby|herein|thereof|thereto|hereunder|pursuant|notwithstanding|"
            r"licen[cs](?:e|es|ed|ee|ees|er|ing|ors?)|warrant(?:y|ies)|liab(?:le|ility)|copyright(?:s|ed)?|"
            r"indemnif(?:y|ies|ied|ication)|terms and conditions|provided that|in accordance with)\b|§",
            re.I,
        ),
        0.01,
    ),
    "academic": (
        re.compile(r"\bet al\.|\bin this (?:paper|study)\b|\bwe (?:propose|present)\b|\[\d+\]|\(\w+,? \d{4}\)", re.I),
        0.005,
    ),
    "steps": (
        re.compile(r"\b(?:step \d|first,|next,|then,|finally,|click|select|preheat|stir|install|tap)\b", re.I),
        0.01,
    ),
    "commerce": (
        re.compile(r"\$\d|\b(?:buy|price|shipping|order now|discount|sale|free trial|add to cart)\b", re.I),
        0.01,
    ),
    "news": (
        re.compile(rf"\b(?:said on {_DAY}|according to|officials?|spokes(?:man|woman)|told reporters|reported)\b"),
        0.005,
    ),
    "reported_speech": (re.compile(r"\b(?:said|says|told|asked)\b", re.I), 0.01),
    "forum": (
        re.compile(r"\b(?:re:|reply|replied|posted|thread|thanks in advance|anyone know|lol|imho)\b", re.I),
        0.005,
    ),
    "code_tokens": (
        re.compile(
            r"\b[a-z_][a-z0-9_]*\(\)|\b[a-z_]\w*\.[a-z_]\w*\(|\b[a-z][a-z0-9]*_[a-z0-9_]+\b|\b__\w+__\b|"
            r"\b[a-z_]\w*\[[^\]\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]{0,20}\]|::=|==|!=|<=|>=|"
            r"`[^`\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]{1,40}`",
            re.I,
        ),
        0.02,
    ),
    "digits": (re.compile(r"\b\d[\d,.:%$]*\b"), 0.05),
    "address": (
        re.compile(
            r"\b(?:mr\.? speaker|madam (?:deputy )?speaker|mr\.? president|madam president|ladies and gentlemen|"
            r"my fellow|hon(?:ou?rable|\.) (?:members?|friends?|gentleman|lady)|i rise|i beg to move|i urge|"
            r"i ask (?:the )?(?:congress|house)|members of (?:the )?(?:congress|house|senate))\b",
            re.I,
        ),
        0.004,
    ),
}
_VIEWS_OWN = re.compile(
    r"\b(?:views|opinions) expressed[a-z'’ ,]{0,60}? (?:are|is) (?:solely |entirely )?(?:(?:the|this) (?:author|"
    r"writer|columnist|contributor)(?:['’]s|s['’]|s)? own|(?:his|her|their) own|(?:those|that) of (?:the|"
    r"its|their) (?:authors?|writers?|columnists?|contributors?))\b",
    re.I,
)
# Substrings every match of a wording pattern contains (casefolded, which covers what re.I matches once the two
# Turkish i's are folded too; news is case-sensitive): a text holding none of them has no match, and the regex
# scan is skipped.
_DOTTED_I = str.maketrans({"\u0307": "", "ı": "i"})  # casefold("İ") is "i" + U+0307; re.I matches ı to i
_NEEDLES: dict[str, tuple[str, ...]] = {
    "legal": (
        *("shall", "hereby", "herein", "thereof", "thereto", "hereunder", "pursuant", "notwithstanding", "licen"),
        *("warrant", "liab", "copyright", "indemnif", "terms and conditions", "provided that", "in accordance with"),
        "§",
    ),
    "steps": ("step ", "first,", "next,", "then,", "finally,", "click", "select", "preheat", "stir", "install", "tap"),
    "commerce": ("$", "buy", "price", "shipping", "order now", "discount", "sale", "free trial", "add to cart"),
    "news": ("said on ", "according to", "official", "spokes", "told reporters", "reported"),
    "forum": ("re:", "repl", "posted", "thread", "thanks in advance", "anyone know", "lol", "imho"),
}


def _wording_matches(cue: str, pattern: re.Pattern[str], text: str, folded: str) -> int:
    needles = _NEEDLES.get(cue)
    if needles and not any(n in (text if cue == "news" else folded) for n in needles):
        return 0
    return len(pattern.findall(text))


def _rate(count: float, total: float, saturation: float) -> float:
    """count/total scaled so that ``saturation`` (a typical rate for the format) maps to 1.0."""
    return float(min(1.0, count / max(total, 1.0) / saturation))


def structure_cues(text: str, words: list[str]) -> dict[str, float]:
    """The cues that only need lines and lowercased words (no wording patterns): what the student reads."""
    lines = [line for line in text.splitlines() if line.strip()]
    n_lines = len(lines)
    n_words = len(words)
    counts = Counter(words)
    sentences = max(1, len(re.findall(r"[.!?](?:\s|$)", text)))
    median_line = median(len(line) for line in lines) if lines else 0
    speakers = _speakers(lines)
    turns = Counter(name for _, name in speakers if name is not None)
    capitals = sum(bool(_CAPITAL_LINE.match(line)) for line in lines)
    short = median_line < 50 or (median_line < 70 and capitals >= 0.6 * n_lines)
    short_lines = n_lines >= 4 and short and sentences < n_lines * 0.8
    return {
        "code_lines": _rate(sum(bool(_CODE_LINE.search(line)) for line in lines), n_lines, 0.4),
        "list_lines": _rate(sum(bool(_LIST_LINE.match(line)) for line in lines), n_lines, 0.5),
        "verse_lines": 1.0 if short_lines else 0.0,
        "speaker_lines": _rate(
            sum(said in ("Q", "A") or (turns[name] >= 2 and len(turns) >= 2) for said, name in speakers), n_lines, 0.4
        ),
        "dialogue": _rate(len(_QUOTE.findall(text)) / 2, sentences, 0.3),
        "narrative": _rate(sum(counts[w] for w in _NARRATIVE), n_words, 0.08),
        "first_person": _rate(sum(counts[w] for w in _FIRST_PERSON), n_words, 0.05),
        "second_person": _rate(sum(counts[w] for w in _SECOND_PERSON), n_words, 0.04),
        "dialogue_lines": _rate(sum(bool(_QUOTE_START.match(line)) for line in lines), n_lines, 0.3),
        "mail_lines": _rate(sum(bool(_MAIL_LINE.search(line)) for line in lines), n_lines, 0.15),
    }


def _play_name(line: str) -> str | None:
    """The speaker of a play's turn (Name. ...), unless an abbreviation or a heading opens the line."""
    found = _PLAY_SPEAKER.match(line)
    return found.group(1).lower() if found and not _NOT_PLAY_SPEAKER.match(line) else None


def _speakers(lines: list[str]) -> list[tuple[str | None, str | None]]:
    """Per line: the name before a colon (not a mail header), and the speaker's name lower-cased (NAME: or Name.)."""
    out = []
    for line in lines:
        found = _SPEAKER_LINE.match(line)
        said = found.group(1) if found and not _MAIL_HEADER.match(line) else None
        out.append((said, said.lower() if said is not None else _play_name(line)))
    return out


def layout_cues(text: str) -> dict[str, float]:
    """Cue rates in [0, 1] for one document (markup already stripped)."""
    words = words_of(text)
    n_words = len(words)
    folded, wording = text.casefold().translate(_DOTTED_I), _WORDING.items()
    return {
        **structure_cues(text, words),
        **{cue: _rate(_wording_matches(cue, pattern, text, folded), n_words, full) for cue, (pattern, full) in wording},
        "proper_nouns": _rate(len(_PROPER.findall(text)), n_words, 0.08),
        "views_own": 1.0 if _VIEWS_OWN.search(text) else 0.0,
    }


def words_of(text: str) -> list[str]:
    """Lowercased words as the cues count them."""
    return [w.lower() for w in _WORD.findall(text)]
