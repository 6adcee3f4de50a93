"""The student's batch rules equal the teacher's per-document ones, label for label: rule labels (language,
length, readability, lexicon rating), sentence splitting and tag candidates, on the sample corpus and on
generated text (markup, shouting, profanity, every kind of white space and sentence end)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from condpt_dagster.labelers import rules
from condpt_dagster.labelers.tags import candidates_batch, candidates_of
from condpt_dagster.labelers.taxonomy import TAXONOMY, Taxonomy
from condpt_dagster.sample_corpus import sample_documents

GENERIC = Taxonomy(TAXONOMY).generic_tags


def test_batch_rules_equal_the_per_document_rules_on_the_sample_corpus(sample_wheels):
    texts = [d["text"] for d in sample_documents(sample_wheels, 300, seed=12)]
    texts += ["", "12345", "<b>DAMN</b> it", "Bonjour, je m'appelle Pierre et j'habite à Paris depuis longtemps."]
    assert rules.rule_labels_batch(texts, language_chars=300) == [
        rules.rule_labels(t, phrases=False, language_chars=300) for t in texts
    ]
    assert rules.split_sentences_batch(texts) == [rules.split_sentences(t) for t in texts]
    assert candidates_batch(texts, GENERIC) == [candidates_of(t, GENERIC) for t in texts]


_PIECES = st.sampled_from(
    [
        "The film",
        "films",
        "a scene",
        "Scenes",
        "shit",
        "damn",
        "KILL",
        "kill",
        "blood",
        "sex",
        "<b>",
        "</i>",
        "Mr. Smith",
        "e.g.",
        "?!",
        "...",
        '." ',
        "') ",
        "]\n",
        "\n\n",
        "ΑΣ",
        "Ünïcödé",
        "日本語",
        "straße",
        "½",
        "co-op",
        "well-known",
        "ms-13",
        "don't",
        "I'm",
        "x\x00y",
        "İstanbul",
        "q\u0301",
        "Ⓐb",
        "a\u203fb",
        "3½",
        "\u212a",
        "3.5",
        "state-of-the-art",
    ]
)
_SPACES = st.sampled_from(
    [" ", "  ", "\n", "\t", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000"]
)
_TEXT = st.lists(
    st.one_of(_PIECES, _SPACES, st.text(alphabet=st.characters(codec="ascii"), max_size=5)), max_size=50
).map(lambda parts: unicodedata.normalize("NFC", "".join(parts)))


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=4))
def test_batch_rules_equal_the_per_document_rules_on_generated_text(texts):
    assert rules.rule_labels_batch(texts, language_chars=40) == [
        rules.rule_labels(t, phrases=False, language_chars=40) for t in texts
    ]
    assert candidates_batch(texts, GENERIC) == [candidates_of(t, GENERIC) for t in texts]
    assert rules.split_sentences_batch(texts) == [rules.split_sentences(t) for t in texts]


def test_batch_language_identification_is_py3langids_to_the_last_bit(sample_wheels):
    from condpt_dagster.labelers.language import identifier

    texts = [d["text"][:300] for d in sample_documents(sample_wheels, 60, seed=13)]
    texts += ["Bonjour, je m'appelle Pierre.", "Hallo, wie geht es dir?", "ΑΣ ΔΕΝ", "日本語のテキスト"]
    texts += ["LOUD TEXT", "?"]
    reference = rules._language_identifier()
    assert identifier().classify(texts) == [reference.classify(t) for t in texts]
