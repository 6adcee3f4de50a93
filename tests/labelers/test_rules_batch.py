"""The student's batch rules equal the teacher's per-document ones, label for label: rule labels (language,
length, readability, lexicon rating), sentence splitting and tag candidates, on the sample corpus and on
generated text (markup, shouting, profanity, every kind of white space and sentence end)."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condpt_dagster.labelers import rules
from condpt_dagster.labelers.tags import CandidateTable, candidates_batch, candidates_of
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


def test_candidates_from_a_table_kept_across_batches_equal_the_per_document_ones(sample_wheels):
    """A long-running labeler passes one table batch after batch: the words it already met, and a table that
    overflows and starts again, give the same candidates as a fresh one."""
    texts = [d["text"] for d in sample_documents(sample_wheels, 120, seed=14)]
    expected = [candidates_of(t, GENERIC) for t in texts]
    kept, small = CandidateTable(GENERIC), CandidateTable(GENERIC, max_tokens=300)
    for table in (kept, small):
        got = [c for i in (0, 40, 80, 0) for c in candidates_batch(texts[i : i + 40], GENERIC, table=table)]
        assert got == expected + expected[:40]
    assert len(small.names) < len(kept.names)  # the small table started again: what it holds is one batch's


def test_rule_labels_from_tables_kept_across_batches_equal_the_per_document_ones(sample_wheels):
    texts = [d["text"] for d in sample_documents(sample_wheels, 120, seed=15)] + ["Damn, shit, kill.", "", "12"]
    expected = [rules.rule_labels(t, phrases=False, language_chars=300) for t in texts]
    kept, small = rules.RuleTables(), rules.RuleTables(max_words=200)
    for tables in (kept, small):
        batches = [texts[i : i + 41] for i in (0, 41, 82, 0)]
        got = [r for batch in batches for r in rules.rule_labels_batch(batch, language_chars=300, tables=tables)]
        assert got == expected + expected[:41]
    assert len(small.syllables) < len(kept.syllables)
    assert {"damn", "kill", "shit"} <= set(kept.tiers.table.filter(pl.col("tiers") > 0)["word"].to_list())
    with pytest.raises(ValueError, match="other generic words"):
        candidates_batch(texts[:2], frozenset({"film"}), table=CandidateTable(GENERIC))


def test_tables_started_from_an_export_keep_it_and_change_no_label(sample_wheels):
    """A student saves what its tables met on its teacher sample (labelers/student_words.py) and every later
    process starts from that export: the same candidates and rule labels as fresh tables, and a table that
    overflows starts again from the export, not from nothing."""
    texts = [d["text"] for d in sample_documents(sample_wheels, 120, seed=16)]
    met, fresh_rules = CandidateTable(GENERIC), rules.RuleTables()
    candidates_batch(texts[:60], GENERIC, table=met)
    rules.rule_labels_batch(texts[:60], language_chars=300, tables=fresh_rules)
    started = CandidateTable(GENERIC, max_tokens=200, base=met.export())
    started_rules = rules.RuleTables(max_words=200, base=fresh_rules.export())
    assert len(started.words) == len(met.words) and len(started_rules.syllables) == len(fresh_rules.syllables)
    for batch in (texts[:60], texts[60:], texts[:60]):  # the 200-word room overflows on the unseen half
        assert candidates_batch(batch, GENERIC, table=started) == [candidates_of(t, GENERIC) for t in batch]
        assert rules.rule_labels_batch(batch, language_chars=300, tables=started_rules) == [
            rules.rule_labels(t, phrases=False, language_chars=300) for t in batch
        ]
        assert len(started.words) >= len(met.words) and len(started_rules.tiers) >= len(fresh_rules.tiers)
    assert started.export().head(len(met.words)).equals(met.export())  # the export is still there, first
    duplicated = pl.concat([fresh_rules.export()["syllables"]] * 2)
    with pytest.raises(ValueError, match="unique words"):
        rules.RuleTables(base={"syllables": duplicated})


def test_the_tag_stop_words_are_scikit_learns_read_without_importing_it():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from condpt_dagster.labelers.tags import _stop_words

    code = "import sys; from condpt_dagster.labelers import tags; words = tags._stop_words()\n"
    code += "print(len(words), 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(ENGLISH_STOP_WORDS)), "False"]  # a new labelling process saves scikit-learn's 1.2 s import
    assert _stop_words() == ENGLISH_STOP_WORDS


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
        "my hon. ",
        "U.S.",
        "J. ",
        "xDr. ",
        "\x01",
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
