"""Issue 17, part 3: concurrent runs of one shard cannot publish stale outputs; orphaned temporaries of a
killed run are removed by the next run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest
from factories import label_row, write_clean, write_labels, write_raw

from condpt_dagster.core.io import clear_orphans, shard_write_lock, temporaries_of
from condpt_dagster.labelers.base import DocumentLabels, Labeler, rule_based_labels
from condpt_dagster.stages.document_labels import LabelsRejected, label_and_check


class ReplacingLabeler(Labeler):
    """Labels normally, but replaces the shard's raw file while it works: what a concurrent ingest would do
    to a run that holds no lock."""

    name = "replacing"

    def __init__(self, lake, shard: str, new_ids: list[str], contract_breaker: bool = False) -> None:
        self.lake, self.shard, self.new_ids, self.contract_breaker = lake, shard, new_ids, contract_breaker

    def fingerprint(self) -> dict:
        return {}

    def label(self, texts) -> list[DocumentLabels]:
        if self.new_ids:
            write_raw(self.lake.clean(self.shard), self.shard, self.new_ids, ["new text"] * len(self.new_ids))
        rows = [rule_based_labels(t, "neutral") for t in texts]
        if self.contract_breaker:
            rows[0].rating = "X"
        return rows


@pytest.fixture
def shard(lake):
    ids = [f"old-{i}" for i in range(300)]
    write_clean(lake, "s", ids, [f"Old document {i}." for i in range(300)])
    write_labels(lake.labels("s"), [label_row(i, labeler_version="old") for i in ids])
    return "s"


def labeler_versions(lake, shard: str) -> set[str]:
    return set(pq.read_table(lake.labels(shard)).column("labeler_version").to_pylist())


def test_labels_of_a_replaced_raw_shard_are_not_published(lake, shard):
    labeler = ReplacingLabeler(lake, shard, new_ids=[f"new-{i}" for i in range(5)])
    with pytest.raises(LabelsRejected, match="labels_without_document"):
        label_and_check(lake, shard, labeler, batch_docs=400)
    assert labeler_versions(lake, shard) == {"old"}  # the previous, consistent labels stay
    assert not temporaries_of(lake.labels(shard))


def test_labels_breaking_the_contract_are_not_published(lake, shard):
    with pytest.raises(LabelsRejected, match="rating_not_allowed"):
        label_and_check(lake, shard, ReplacingLabeler(lake, shard, [], contract_breaker=True), batch_docs=64)
    assert labeler_versions(lake, shard) == {"old"}


def test_second_writer_of_a_shard_waits_for_the_first(lake, tmp_path):
    journal = tmp_path / "journal"
    holder = textwrap.dedent(
        f"""
        import sys, time
        from condpt_dagster.core.io import shard_write_lock
        from condpt_dagster.core.lake import DataLake
        with shard_write_lock(DataLake.at({str(lake.root)!r}), "s", log=lambda m: None):
            print("locked", flush=True)
            open({str(journal)!r}, "a").write("first-start\\n")
            time.sleep(1.5)
            open({str(journal)!r}, "a").write("first-end\\n")
        """
    )
    first = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "locked"
    waited = []
    with shard_write_lock(lake, "s", log=waited.append):
        journal.open("a").write("second\n")
    first.wait(timeout=60)
    assert journal.read_text().split() == ["first-start", "first-end", "second"]
    assert waited and "waiting for its lock" in waited[0]


def test_orphans_of_a_killed_writer_are_removed_by_the_next_run(lake):
    writer = textwrap.dedent(
        f"""
        import os, signal
        from condpt_dagster.core.io import atomic_output
        from condpt_dagster.core.lake import DataLake
        lake = DataLake.at({str(lake.root)!r})
        with atomic_output(lake.labels("s")) as tmp:
            tmp.write_bytes(b"half a file")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert subprocess.run([sys.executable, "-c", writer]).returncode == -9
    [orphan] = temporaries_of(lake.labels("s"))
    assert orphan.read_bytes() == b"half a file" and not lake.labels("s").exists()
    with shard_write_lock(lake, "s", log=lambda m: None) as removed:
        assert removed == [orphan]
    assert not orphan.exists() and clear_orphans(lake.shard_outputs("s")) == []
