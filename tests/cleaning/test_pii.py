"""PII redaction: each type found in its usual spellings (so the batch prefilter lets it through) and
validated, and look-alikes left alone."""

from __future__ import annotations

import pytest

from condpt_dagster.cleaning.pii import PiiRedactor
from condpt_dagster.core.settings import CleanSettings


@pytest.mark.parametrize(
    ("found", "placeholder"),
    [
        ("jane.roe+news@mail.example.org", "<EMAIL>"),
        ("8.8.8.8", "<IP_ADDRESS>"),
        ("2606:4700:4700:0:0:0:0:1111", "<IP_ADDRESS>"),
        ("2606:4700::1111", "<IP_ADDRESS>"),
        ("4111 1111 1111 1111", "<CREDIT_CARD>"),
        ("4111-1111-1111-1111", "<CREDIT_CARD>"),
        ("378282246310005", "<CREDIT_CARD>"),
        ("(415) 555-2671", "<PHONE>"),
        ("+44 20 7946 0958", "<PHONE>"),
    ],
)
def test_each_type_is_replaced_in_running_text(found, placeholder):
    text = f"The clerk wrote {found} on the form, then left."
    [redacted], [count], per_type = PiiRedactor(CleanSettings()).redact([text])
    assert redacted == f"The clerk wrote {placeholder} on the form, then left."
    assert count == 1 and sum(per_type.values()) == 1


@pytest.mark.parametrize(
    "lookalike",
    [
        "192.168.1.20",  # private network: identifies no one
        "127.0.0.1",
        "version 1.2.3",
        "4111 1111 1111 1112",  # fails the Luhn check
        "in 2016 and 2017",
        "12:30:45",
        "a score of 3.5 out of 5",
    ],
)
def test_lookalikes_are_kept(lookalike):
    text = f"Nothing personal here: {lookalike}."
    [redacted], [count], _ = PiiRedactor(CleanSettings()).redact([text])
    assert (redacted, count) == (text, 0)
