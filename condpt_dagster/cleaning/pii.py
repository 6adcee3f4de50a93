"""PII redaction: e-mail addresses, phone numbers, public IP addresses and payment card numbers become typed
placeholders (``<EMAIL>``, ``<PHONE>``, ``<IP_ADDRESS>``, ``<CREDIT_CARD>``).

Candidates are found by regular expressions and kept only when a validator agrees: ``ipaddress`` (global
addresses only, as datatrove's PII formatter does: 127.0.0.1 or 192.168.x.x identify no one), Google's
libphonenumber port ``phonenumbers`` (a valid number for its region, not any digit run), and the Luhn
checksum for card numbers. A cheap vectorized pass (polars) skips texts that cannot hold any candidate.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable

import phonenumbers
import polars as pl

from condpt_dagster.core.settings import CleanSettings

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
)
_IPV4 = r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.]\d)"
_IPV6 = (
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?![\w:])"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}(?![\w:])"
)
_IP = re.compile(f"{_IPV4}|{_IPV6}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE_HINT = r"\d[\d\s().-]{6,}\d"  # 8+ characters of digits and separators: phonenumbers decides
# Necessary conditions for each pattern, checked on the whole batch by polars (Rust regex) first
_HINTS = {
    "EMAIL": r"@",
    "IP_ADDRESS": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:",
    "CREDIT_CARD": r"\d(?:[ -]?\d){12}",
    "PHONE": _PHONE_HINT,
}


def _is_global_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def _luhn(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return 13 <= len(digits) <= 19 and checksum % 10 == 0


def _sub(pattern: re.Pattern[str], placeholder: str, valid: Callable[[str], bool] | None) -> Callable:
    def redact(text: str) -> tuple[str, int]:
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            if valid is not None and not valid(match.group(0)):
                return match.group(0)
            count += 1
            return placeholder

        return pattern.sub(replace, text), count

    return redact


class PiiRedactor:
    """Replaces the enabled PII types; ``redact`` returns the texts and how many of each type it replaced."""

    def __init__(self, options: CleanSettings) -> None:
        self.region = options.phone_region
        steps = {
            "EMAIL": (options.redact_emails, _sub(_EMAIL, "<EMAIL>", None)),
            "IP_ADDRESS": (options.redact_ip_addresses, _sub(_IP, "<IP_ADDRESS>", _is_global_ip)),
            "CREDIT_CARD": (options.redact_credit_cards, _sub(_CARD, "<CREDIT_CARD>", _luhn)),
            "PHONE": (options.redact_phones, self._phones),
        }
        self.steps = {kind: fn for kind, (enabled, fn) in steps.items() if enabled}

    def _phones(self, text: str) -> tuple[str, int]:
        found = list(phonenumbers.PhoneNumberMatcher(text, self.region, leniency=phonenumbers.Leniency.VALID))
        for match in reversed(found):  # right to left keeps the earlier offsets valid
            text = text[: match.start] + "<PHONE>" + text[match.end :]
        return text, len(found)

    def redact(self, texts: list[str]) -> tuple[list[str], list[int], Counter[str]]:
        """``(texts, redactions per text, redactions per type)``."""
        texts, per_text, per_type = list(texts), [0] * len(texts), Counter()
        if not texts or not self.steps:
            return texts, per_text, per_type
        series = pl.Series(texts, dtype=pl.String)
        for kind, redact in self.steps.items():
            for i in series.str.contains(_HINTS[kind]).arg_true().to_list():
                texts[i], count = redact(texts[i])
                if count:
                    per_text[i] += count
                    per_type[kind] += count
        return texts, per_text, per_type
