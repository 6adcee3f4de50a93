"""The batch layout cues (polars) equal the per-document Python definitions they replaced (cue_oracle.py): on
the sample corpus, on generated text with the layouts the cues look for, and batch or one by one."""

from __future__ import annotations

import unicodedata

import cue_oracle
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from condpt_dagster.labelers.format_cues import CUES, cue_matrix, layout_cues
from condpt_dagster.sample_corpus import sample_documents


def oracle_matrix(texts: list[str]) -> np.ndarray:
    return np.array([[cue_oracle.layout_cues(t)[c] for c in CUES] for t in texts]).reshape(len(texts), len(CUES))


def test_cue_names_and_order_are_the_oracles():
    assert tuple(cue_oracle.layout_cues("x")) == CUES


def test_batch_cues_equal_the_python_definitions_on_the_sample_corpus(sample_wheels):
    texts = [d["text"] for d in sample_documents(sample_wheels, 400, seed=11)]
    np.testing.assert_array_equal(cue_matrix(texts), oracle_matrix(texts))


# What the cues look for, mixed with letters of other scripts, curly quotes, white space of every kind
# (including the separators \x1c-\x1f and Unicode line breaks) and the wording patterns' words.
_PIECES = st.sampled_from(
    [
        "def f(x):",
        "    y = g(x)",
        "return 1;",
        "}",
        "<div class='a'>",
        "- item",
        "12) step",
        "a) b",
        "| a | b |",
        "HOST: hi",
        "Q: why",
        "From: Ann",
        "Subject: Re: x",
        "> quoted",
        ">> nested",
        ">>> 1 + 1",
        "Bob wrote:",
        "-- ",
        "-----Original Message-----",
        "Mr Smith",
        "o Mr Smith",
        "Ham. Whither",
        "Old M. Oh",
        "LUCY (aside). Poor",
        "FIRST WITCH. When",
        "Mr. Darcy",
        "DR. Hood",
        "CHAPTER I. Down",
        "Sept. 3",
        "(Enter",
        "“Lo",
        "a B, C",
        "said on Monday",
        "officials",
        "et al.",
        "[3]",
        "(Smith, 2020)",
        "$5",
        "buy now",
        "Licensee shall",
        "the License",
        "licensees",
        "Licensors liable",
        "copyrighted",
        "Indemnification",
        "terms and conditions",
        "Provided that",
        "in accordance with",
        "NOTWITHSTANDING",
        "licenseX",
        "hereby",
        "re: thread",
        "lol",
        "3.5%",
        "12:30",
        "I'm",
        "you're",
        "he said",
        "“Hello,” she",
        "'quoted'",
        "‘single’",
        "Ünïcödé",
        "straße",
        "日本語",
        "\x00Ab",
        "3½ feet",
        "shall\u0301",
        "Ⓐ shall",
        "x\u200dtap",
        "SHALL",
        "Step 2",
        "\u212ak",
        "\u0130nstall",
        "\u017fhall",
        "t\u0131p",
        "LICENSEE",
        "shall",
        "SHALL",
        "ſhall",
        "İnstall",
        "ınstall",
        "install",
        "Step 4",
        "then,",
        "$9",
        "sale",
        "Said on Monday",
        "TAP",
        "\x00",
        "§ 2",
        "The views expressed",
        "VIEWS EXPRESSED here are",
        "opinions expressed by Forbes",
        "are the author's own",
        "are the \u212author’s own",
        "are solely those of the writers",
        "is their own",
        "Opinions expressed in this ſolumn are his own",
        "!",
        "?",
        ".",
        ",",
        ";",
        "'",
        '"',
    ]
)
_SPACES = st.sampled_from(
    [
        " ",
        "  ",
        "\n",
        "\n\n",
        "\t",
        "\r\n",
        "\r",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x1d",
        "\x1e",
        "\x1f",
        "\x85",
        "\xa0",
        "\u2028",
        "\u2029",
        "\u3000",
    ]
)
_TEXT = st.lists(
    st.one_of(_PIECES, _SPACES, st.text(alphabet=st.characters(codec="ascii"), max_size=6)), max_size=60
).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=4))
@example(["`\x1e`", "x[\x1c]", "`a\u2028b` y[\r]"])  # a backquoted span or an index across a line break
@example(["The views expressed in this article are the author's own.", "Views expressed here are\nmy own"])
def test_batch_cues_equal_the_python_definitions_on_generated_text(texts):
    texts = [unicodedata.normalize("NFC", t) for t in texts]
    np.testing.assert_array_equal(cue_matrix(texts), oracle_matrix(texts))
    assert layout_cues(texts[0]) == cue_oracle.layout_cues(texts[0])


def test_an_empty_batch_has_no_rows():
    assert cue_matrix([]).shape == (0, len(CUES))
