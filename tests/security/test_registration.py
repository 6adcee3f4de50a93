"""Issue 17, part 2: registering shards never loses or duplicates data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.resources import DataLakeResource


def shard_file(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    return path


@pytest.fixture
def add(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))

    def run(*args: str):
        return CliRunner().invoke(cli, ["add-shards", *args, "--data", str(lake.root)])

    return run


def test_other_content_under_an_existing_name_is_refused_or_replaced_keeping_the_old(lake, tmp_path, add):
    first = shard_file(tmp_path / "one" / "base-000.jsonl.gz", ["original"])
    other = shard_file(tmp_path / "two" / "base-000.jsonl.gz", ["different"])
    assert add(str(first)).exit_code == 0
    refused = add(str(other))
    assert refused.exit_code == 1 and "already exists with other content" in refused.output
    assert (lake.inbox / "base-000.jsonl.gz").read_bytes() == first.read_bytes()  # nothing overwritten
    replaced = add("--replace", str(other))
    assert replaced.exit_code == 0 and "replaced shard base-000" in replaced.output
    assert (lake.inbox / "base-000.jsonl.gz").read_bytes() == other.read_bytes()
    [archived] = list(lake.replaced_dir.iterdir())
    assert archived.read_bytes() == first.read_bytes()


def test_same_content_under_a_new_name_is_refused_with_the_existing_name(lake, tmp_path, add):
    original = shard_file(tmp_path / "a.jsonl.gz", ["same text"])
    copy = tmp_path / "b.jsonl.gz"
    copy.write_bytes(original.read_bytes())
    assert add(str(original)).exit_code == 0
    refused = add(str(copy))
    assert refused.exit_code == 1 and "same content as shard 'a'" in refused.output
    assert not (lake.inbox / "b.jsonl.gz").exists()
    assert add("--allow-duplicate", str(copy)).exit_code == 0 and (lake.inbox / "b.jsonl.gz").exists()


@pytest.mark.parametrize("name", ["nl\n.jsonl", "-x.jsonl", "a b.jsonl"])
def test_bad_names_and_empty_files_are_refused_at_registration(lake, tmp_path, add, name):
    bad = tmp_path / name
    bad.write_text('{"text": "x"}\n')
    result = add(str(bad))
    assert result.exit_code == 1 and "shard name" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = add(str(empty))
    assert result.exit_code == 1 and "file is empty" in result.output
    assert not lake.inbox.exists() or not list(lake.inbox.iterdir())


def test_registering_the_same_file_again_is_a_no_op(lake, tmp_path, add):
    path = shard_file(tmp_path / "s.jsonl.gz", ["text"])
    assert "registered 1 new shard(s): s" in add(str(path)).output
    again = add(str(path))
    assert again.exit_code == 0 and "registered 0 new shard(s): - (1 already known)" in again.output


def test_sensor_requests_a_duplicate_content_only_once(lake):
    shard_file(lake.inbox / "a.jsonl.gz", ["same"])
    (lake.inbox / "b.jsonl.gz").write_bytes((lake.inbox / "a.jsonl.gz").read_bytes())
    (lake.inbox / "c.jsonl").write_bytes(b"")
    defs = build_definitions(Settings(data_root=str(lake.root)))
    sensor = defs.resolve_sensor_def("inbox_sensor")
    with dg.instance_for_test() as instance:
        resources = {"lake": DataLakeResource(root=str(lake.root))}
        with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
            result = sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["a"]


def test_a_stray_file_in_the_inbox_does_not_break_registration(lake, tmp_path, add):
    (lake.inbox / "notes here.jsonl").write_text('{"text": "not a shard name"}\n')  # dropped by hand
    (lake.inbox / "empty.jsonl").write_bytes(b"")
    result = add(str(shard_file(tmp_path / "s.jsonl.gz", ["text"])))
    assert result.exit_code == 0 and "registered 1 new shard(s): s" in result.output, result.output


# ------------------------------------------------- issue 28, holes 5 and 6: races, extensions, names, empty files


def test_concurrent_registrations_of_one_name_never_lose_a_version_silently(lake, tmp_path):
    import threading

    from condpt_dagster.ingest.inbox import RegistrationError, register_shards

    for round_ in range(6):
        sources = [shard_file(tmp_path / f"r{round_}-{i}" / f"race{round_}.jsonl.gz", [f"v{i}"]) for i in range(2)]
        barrier, outcomes = threading.Barrier(2), {}

        def register(i: int, sources=sources, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                register_shards(lake, [sources[i]])
                outcomes[i] = "ok"
            except RegistrationError as exc:
                outcomes[i] = str(exc)

        threads = [threading.Thread(target=register, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        [winner] = [i for i, outcome in outcomes.items() if outcome == "ok"]
        assert "already exists with other content" in outcomes[1 - winner]  # the loser is told, exit 1
        assert (lake.inbox / f"race{round_}.jsonl.gz").read_bytes() == sources[winner].read_bytes()
    assert not [p for p in lake.inbox.iterdir() if p.name.endswith(".tmp")]  # no copy left behind


def test_a_source_rewritten_while_registering_is_judged_by_the_bytes_copied(lake, tmp_path, monkeypatch):
    import condpt_dagster.ingest.inbox as inbox

    original = shard_file(tmp_path / "a.jsonl.gz", ["same text"])
    assert inbox.register_shards(lake, [original])
    other = shard_file(tmp_path / "b.jsonl.gz", ["other text"])
    real_mkstemp = inbox.tempfile.mkstemp

    def rewrite_then_copy(*args, **kwargs):  # the source changes after its name was checked, before it is read
        other.write_bytes(original.read_bytes())
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(inbox.tempfile, "mkstemp", rewrite_then_copy)
    with pytest.raises(inbox.RegistrationError, match="same content as shard 'a'"):
        inbox.register_shards(lake, [other])
    assert sorted(p.name for p in lake.inbox.iterdir() if not p.name.startswith(".")) == ["a.jsonl.gz"]


def test_a_shard_key_is_one_file_whatever_its_extension(lake, tmp_path, add):
    plain = tmp_path / "a.jsonl"
    plain.write_text('{"text": "first"}\n')
    gz = shard_file(tmp_path / "a.jsonl.gz", ["second, other content"])
    assert add(str(plain)).exit_code == 0
    refused = add(str(gz))
    assert refused.exit_code == 1 and "shard 'a' already exists with other content (a.jsonl)" in refused.output
    assert [p.name for p in lake.inbox_files()] == ["a.jsonl"]
    replaced = add("--replace", str(gz))
    assert replaced.exit_code == 0 and "replaced shard a (a.jsonl kept in" in replaced.output
    assert lake.inbox_file("a").name == "a.jsonl.gz"  # not ambiguous
    [archived] = list(lake.replaced_dir.iterdir())
    assert archived.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("length", [129, 234, 240, 246])  # 246 + ".jsonl.gz": the longest name a file can have
def test_long_names_are_refused_in_one_line(lake, tmp_path, add, length):
    result = add(str(shard_file(tmp_path / f"{'n' * length}.jsonl.gz", ["text"])))
    assert result.exit_code == 1 and "at most 128" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["empty gzip", "blank lines", "blank gzip", "empty zstd", "empty parquet"])
def test_files_without_a_record_are_refused_at_registration(lake, tmp_path, add, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    if kind == "empty gzip":
        path = shard_file(tmp_path / "e.jsonl.gz", [])
    elif kind == "blank lines":
        path = tmp_path / "e.jsonl"
        path.write_text("\n  \n\t\n\n")
    elif kind == "blank gzip":
        path = tmp_path / "e.jsonl.gz"
        path.write_bytes(gzip.compress(b"\xef\xbb\xbf\n\n \n"))
    elif kind == "empty zstd":
        path = tmp_path / "e.jsonl.zst"
        path.write_bytes(zstandard.ZstdCompressor().compress(b""))
    else:
        path = tmp_path / "e.parquet"
        pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    result = add(str(path))
    assert result.exit_code == 1 and "no records" in result.output and "Traceback" not in result.output
    assert not [p for p in lake.inbox.iterdir() if p.is_file()]


def test_replace_resolves_two_extensions_dropped_into_the_inbox_by_hand(lake, add):
    (lake.inbox / "a.jsonl").write_text('{"text": "dropped first"}\n')
    dropped = shard_file(lake.inbox / "a.jsonl.gz", ["dropped second"])
    refused = add(str(dropped))
    assert refused.exit_code == 1 and "already exists with other content (a.jsonl)" in refused.output
    assert add("--replace", str(dropped)).exit_code == 0
    [archived] = lake.replaced_dir.iterdir()
    assert lake.inbox_file("a") == dropped and archived.name.startswith("a.jsonl.")
