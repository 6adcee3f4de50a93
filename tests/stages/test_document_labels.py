"""document_labels stage: the label contract counts and the drift history."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import write_raw

from condpt_dagster.labelers.base import DocumentLabels, Labeler, rule_based_labels
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.labelers.student import StudentLabeler
from condpt_dagster.stages.document_labels import label_quality, label_shard, record_drift


def test_label_contract_violations_are_counted(tmp_path):
    table = pa.table(
        {
            "rating": ["PG", "X", "G"],
            "format": ["news", "fiction", "sonnet"],
            "synopsis": ["ok", "", "y" * 300],
            "tags": [["a"], [], [f"t{i}" for i in range(20)]],
        }
    )
    pq.write_table(table, tmp_path / "l.parquet")
    assert label_quality(tmp_path / "l.parquet", synopsis_max=200) == {
        "rating_not_allowed": 1,
        "format_not_allowed": 1,
        "synopsis_empty": 1,
        "synopsis_too_long": 1,
        "too_many_tags": 1,
    }


def test_drift_check_compares_with_the_previous_labeler_version(tmp_path):
    history = tmp_path / "_distributions" / "s.json"
    calm = {"rating": {"G": 0.8, "PG": 0.2}, "topic": {"movies": 1.0}, "sentiment": {"positive": 1.0}}
    shifted = {"rating": {"R": 0.9, "G": 0.1}, "topic": {"movies": 1.0}, "sentiment": {"positive": 1.0}}
    assert record_drift(history, "v1", calm).passed  # nothing to compare with
    assert record_drift(history, "v1", calm).compared_with is None  # same version again: still nothing older
    result = record_drift(history, "v2", shifted)
    assert not result.passed and result.compared_with == "v1"
    assert result.distances["rating"] == pytest.approx(0.9)
    assert record_drift(history, "v3", shifted).passed  # v2 -> v3 did not move


class _CountingLabeler(Labeler):
    """Rule-based labels; remembers how many documents each label() call was given."""

    name = "counting"
    batch_docs = 7

    def __init__(self) -> None:
        self.calls: list[int] = []

    def fingerprint(self) -> dict:
        return {}

    def label(self, texts) -> list[DocumentLabels]:
        self.calls.append(len(texts))
        return [rule_based_labels(t, "neutral") for t in texts]


def test_a_labeler_reads_its_own_batch_size_unless_the_settings_name_one(tmp_path):
    """The student reads 512 documents per call (its batch rules pay per batch), the composite labeler 32;
    ``[labeler] batch_docs`` overrides either."""
    write_raw(tmp_path / "raw.parquet", "s", [f"d{i}" for i in range(20)], [f"Document {i}." for i in range(20)])
    own, named = _CountingLabeler(), _CountingLabeler()
    assert label_shard(tmp_path / "raw.parquet", tmp_path / "a.parquet", own).documents == 20
    label_shard(tmp_path / "raw.parquet", tmp_path / "b.parquet", named, batch_docs=16)
    assert own.calls == [7, 7, 6] and named.calls == [16, 4]
    assert StudentLabeler.batch_docs == 512 and CompositeLabeler.batch_docs == 32


class _ReadAheadLabeler(_CountingLabeler):
    """Takes every batch before it returns the first one's labels (the most any labeler may read ahead);
    each synopsis names its document's text, so a row written under another document's id shows."""

    def label_batches(self, batches):
        taken = list(batches)
        yield from (self.label(texts) for texts in taken)


def test_labels_stay_with_their_documents_when_the_labeler_reads_ahead(tmp_path):
    ids = [f"d{i}" for i in range(20)]
    write_raw(tmp_path / "raw.parquet", "s", ids, [f"Document number {i}." for i in range(20)])
    stats = label_shard(tmp_path / "raw.parquet", tmp_path / "l.parquet", _ReadAheadLabeler())
    rows = pq.read_table(tmp_path / "l.parquet", columns=["id", "synopsis"]).to_pylist()
    assert stats.documents == 20 and [r["id"] for r in rows] == ids
    assert all(r["synopsis"] == f"Document number {r['id'][1:]}." for r in rows)
