"""The ingestion core on good and bad input: every record read is accounted for."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from condpt_dagster.core.settings import IngestSettings
from condpt_dagster.stages.raw_documents import IngestError, ingest_shard


def run(path: Path, options: IngestSettings | None = None):
    out = path.parent / "out"
    stats = ingest_shard(path, "s", out / "raw.parquet", out / "q.parquet", options)
    raw = pl.read_parquet(out / "raw.parquet")
    quarantine = pl.read_parquet(out / "q.parquet")
    assert stats.read == len(raw) + len(quarantine)
    return stats, raw, quarantine


def jsonl(tmp_path: Path, *lines: bytes | str, name: str = "s.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) for x in lines))
    return path


def reasons(quarantine: pl.DataFrame) -> dict[int, str]:
    return dict(zip(quarantine["line"].to_list(), quarantine["reason"].to_list(), strict=True))


def test_good_records_are_normalized_and_keep_meta(tmp_path):
    path = jsonl(
        tmp_path,
        '{"id": "a", "text": "Great  film.<br /><br />Loved it &amp; cried.", '
        '"source": "imdb", "meta": {"label": 1}}\n',
        '{"text": "Cafe\\u0301 \\u00e9t\\u00e9", "added": "2024-01-01"}\n',
    )
    stats, raw, quarantine = run(path)
    assert raw["text"].to_list() == ["Great film.\n\nLoved it & cried.", "Café été"]
    assert raw["source"].to_list() == ["imdb", "unknown"]
    assert json.loads(raw["meta"][0]) == {"label": 1}
    assert json.loads(raw["meta"][1]) == {"added": "2024-01-01"}  # extra top-level fields are kept
    assert raw["line"].to_list() == [1, 2]
    assert stats.written == 2 and quarantine.is_empty()


def test_ids_are_stable_text_hashes_when_missing(tmp_path):
    path = jsonl(tmp_path, '{"text": "same words"}\n')
    _, first, _ = run(path)
    path2 = jsonl(tmp_path, '{"text": "  same   words "}\n', '{"text": "other"}\n', name="t.jsonl")
    _, second, _ = run(path2)
    assert first["id"][0] == second["id"][0]  # identical after normalization -> identical id
    assert len(set(second["id"])) == 2


def test_invalid_json_line_is_quarantined_with_line_number(tmp_path):
    path = jsonl(tmp_path, '{"text": "ok"}\n', '{"text": "broken"\n', '{"text": "also ok"}\n')
    _stats, raw, quarantine = run(path)
    assert reasons(quarantine) == {2: "invalid_json"}
    assert quarantine["raw"][0] == b'{"text": "broken"'
    assert raw["line"].to_list() == [1, 3]


def test_truncated_last_line(tmp_path):
    path = jsonl(tmp_path, '{"text": "ok"}\n', '{"text": "cut off in the mid')
    _, raw, quarantine = run(path)
    assert reasons(quarantine) == {2: "truncated_last_line"}
    assert len(raw) == 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ('{"id": "x"}', "missing_text"),
        ('{"text": null}', "missing_text"),
        ('{"text": "   \\n\\t "}', "blank_text"),
        ('{"text": ""}', "blank_text"),
        ('{"text": 42}', "non_string_text"),
        ('{"text": ["a", "b"]}', "non_string_text"),
        ('{"text": "<br /><br/>"}', "blank_text"),  # empty only after normalization
        ('["text", "a list"]', "not_an_object"),
        ('{"text": "x", "meta": "not a dict"}', "invalid_meta"),
        ('{"text": "x", "id": {"nested": 1}}', "invalid_id"),
        ('{"text": "x", "source": 7}', "invalid_source"),
    ],
)
def test_unusable_text_fields_are_quarantined(tmp_path, record, reason):
    path = jsonl(tmp_path, '{"text": "fine"}\n', record + "\n")
    _, raw, quarantine = run(path)
    assert reasons(quarantine) == {2: reason}
    assert raw["text"].to_list() == ["fine"]


def test_invalid_utf8_is_quarantined_with_exact_bytes(tmp_path):
    bad = b'{"text": "caf\xe9 au lait"}\n'
    path = jsonl(tmp_path, '{"text": "fine"}\n', bad)
    _, _, quarantine = run(path)
    assert reasons(quarantine) == {2: "invalid_utf8"}
    assert quarantine["raw"][0] + b"\n" == bad
    assert "byte" in quarantine["detail"][0]


def test_nul_bytes_are_removed_from_text(tmp_path):
    path = jsonl(tmp_path, '{"text": "nul\\u0000 inside\\u0000"}\n', '{"text": "\\u0000\\u0000"}\n')
    _, raw, quarantine = run(path)
    assert raw["text"].to_list() == ["nul inside"]
    assert reasons(quarantine) == {2: "blank_text"}


def test_bom_and_crlf(tmp_path):
    path = jsonl(tmp_path, b'\xef\xbb\xbf{"text": "first"}\r\n', b'{"text": "line one\\r\\nline two"}\r\n')
    _, raw, quarantine = run(path)
    assert raw["text"].to_list() == ["first", "line one\nline two"]
    assert quarantine.is_empty()


def test_blank_lines_are_counted_not_records(tmp_path):
    path = jsonl(tmp_path, '{"text": "a"}\n', "\n", "   \r\n", '{"text": "b"}\n')
    stats, raw, _ = run(path)
    assert (stats.read, stats.blank_lines, len(raw)) == (2, 2, 2)


def test_oversize_record_quarantined_by_default(tmp_path):
    path = jsonl(tmp_path, json.dumps({"text": "x" * 50}) + "\n", '{"text": "short"}\n')
    _stats, raw, quarantine = run(path, IngestSettings(max_chars=20))
    assert reasons(quarantine) == {1: "too_large"}
    assert raw["text"].to_list() == ["short"]
    assert json.loads(quarantine["raw"][0])["text"] == "x" * 50  # nothing lost


def test_oversize_record_truncated_when_configured(tmp_path):
    path = jsonl(tmp_path, json.dumps({"text": "y" * 50}) + "\n")
    stats, raw, quarantine = run(path, IngestSettings(max_chars=20, oversize="truncate"))
    assert raw["text"].to_list() == ["y" * 20]
    assert stats.truncated == 1 and quarantine.is_empty()


def test_duplicate_texts_are_written_for_clean_documents_to_remove(tmp_path):
    path = jsonl(tmp_path, '{"id": "1", "text": "same"}\n', '{"id": "2", "text": "same "}\n', '{"text": "new"}\n')
    _, raw, quarantine = run(path)
    assert raw["id"].to_list()[:2] == ["1", "2"] and raw["text"].to_list() == ["same", "same", "new"]
    assert quarantine.is_empty()


def test_same_text_without_ids_gets_distinct_ids(tmp_path):
    _, raw, quarantine = run(jsonl(tmp_path, '{"text": "twice"}\n', '{"text": "twice"}\n'))
    first, second = raw["id"].to_list()
    assert second == f"{first}-2" and quarantine.is_empty()


def test_duplicate_id_with_different_text_is_quarantined(tmp_path):
    path = jsonl(tmp_path, '{"id": "1", "text": "first"}\n', '{"id": "1", "text": "second"}\n')
    _, raw, quarantine = run(path)
    assert raw["text"].to_list() == ["first"]
    assert reasons(quarantine) == {2: "duplicate_id"}


def test_gzip_and_zstd_roundtrip(tmp_path):
    lines = b"".join(json.dumps({"id": str(i), "text": f"doc {i}"}).encode() + b"\n" for i in range(5000))
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines))
    # Two concatenated zstd frames: still one valid stream.
    half = len(lines) // 2
    cut = lines.rfind(b"\n", 0, half) + 1
    zc = zstandard.ZstdCompressor()
    (tmp_path / "b.jsonl.zst").write_bytes(zc.compress(lines[:cut]) + zc.compress(lines[cut:]))
    for name in ("a.jsonl.gz", "b.jsonl.zst"):
        stats, raw, _ = run(tmp_path / name)
        assert stats.written == 5000 and raw["id"][-1] == "4999"


@pytest.mark.parametrize("ext", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_compressed_stream_names_file_and_progress(tmp_path, ext):
    lines = b"".join(json.dumps({"text": f"document number {i} " * 5}).encode() + b"\n" for i in range(20000))
    blob = gzip.compress(lines) if ext == ".jsonl.gz" else zstandard.ZstdCompressor().compress(lines)
    path = tmp_path / f"cut{ext}"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IngestError, match=r"cut\.jsonl\.(gz|zst).*truncated.*after line \d+") as err:
        ingest_shard(path, "cut", tmp_path / "raw.parquet", tmp_path / "q.parquet")
    assert "records read" in str(err.value)
    assert not (tmp_path / "raw.parquet").exists()  # no half output


def test_parquet_input(tmp_path):
    table = pa.table({"id": ["p1", "p2", "p3"], "text": ["one", None, "three"], "source": ["s", "s", "s"]})
    pq.write_table(table, tmp_path / "p.parquet")
    _, raw, quarantine = run(tmp_path / "p.parquet")
    assert raw["id"].to_list() == ["p1", "p3"]
    assert reasons(quarantine) == {2: "missing_text"}


def test_parquet_without_text_column(tmp_path):
    pq.write_table(pa.table({"id": ["a"], "content": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(IngestError, match=r"p\.parquet.*no 'text' column.*id, content"):
        ingest_shard(tmp_path / "p.parquet", "p", tmp_path / "r.parquet", tmp_path / "q.parquet")


def test_empty_file(tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"")
    with pytest.raises(IngestError, match=r"e\.jsonl.*empty"):
        ingest_shard(tmp_path / "e.jsonl", "e", tmp_path / "r.parquet", tmp_path / "q.parquet")


def test_unknown_extension_lists_supported(tmp_path):
    (tmp_path / "d.csv").write_text("text\nhello\n")
    with pytest.raises(IngestError, match=r"d\.csv.*\.jsonl, \.jsonl\.gz, \.jsonl\.zst, \.parquet"):
        ingest_shard(tmp_path / "d.csv", "d", tmp_path / "r.parquet", tmp_path / "q.parquet")


def test_failed_ingest_keeps_previous_output(tmp_path):
    good = jsonl(tmp_path, '{"text": "v1"}\n')
    ingest_shard(good, "s", tmp_path / "r.parquet", tmp_path / "q.parquet")
    bad = tmp_path / "s.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"text": "v2"}\n' * 1000)[:40])
    with pytest.raises(IngestError):
        ingest_shard(bad, "s", tmp_path / "r.parquet", tmp_path / "q.parquet")
    assert pl.read_parquet(tmp_path / "r.parquet")["text"].to_list() == ["v1"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_streaming_batches_give_same_result_as_one_batch(tmp_path):
    lines = [json.dumps({"text": f"doc {i % 700}"}) + "\n" for i in range(1000)]
    path = jsonl(tmp_path, *lines)
    small = run(path, IngestSettings(batch_size=7))
    whole = run(path, IngestSettings(batch_size=10_000))
    assert len(small[1]) == 1000 and small[1]["id"].n_unique() == 1000
    assert small[1].equals(whole[1])
    assert small[0].content_hash == whole[0].content_hash


def test_clean_batches_are_parsed_whole_and_a_bad_record_only_slows_its_own_batch(tmp_path):
    good = [json.dumps({"id": i, "text": f"doc {i}", "meta": {"n": i}}) + "\n" for i in range(30)]
    stats, raw, _ = run(jsonl(tmp_path, *good), IngestSettings(batch_size=10))
    assert stats.per_record_batches == 0 and raw["id"].to_list()[:2] == ["0", "1"]
    assert raw["meta"].to_list()[1] == '{"n":1}'

    bad = [*good[:15], "{broken\n", json.dumps({"text": "dolma", "added": "2024"}) + "\n", *good[15:]]
    stats, raw, quarantine = run(jsonl(tmp_path, *bad, name="b.jsonl"), IngestSettings(batch_size=10))
    assert stats.per_record_batches == 1  # the second batch of ten holds both odd records
    assert reasons(quarantine) == {16: "invalid_json"} and len(raw) == 31
    assert json.loads(raw.filter(pl.col("text") == "dolma")["meta"][0]) == {"added": "2024"}  # extra field kept


def test_fast_and_per_record_paths_write_the_same_rows(tmp_path):
    lines = [json.dumps({"id": f"d{i}", "text": f"text  {i % 40}", "source": "x"}) + "\n" for i in range(100)]
    whole = run(jsonl(tmp_path, *lines), IngestSettings(batch_size=100))
    mixed = run(jsonl(tmp_path, *lines[:50], "[1]\n", *lines[50:], name="m.jsonl"), IngestSettings(batch_size=100))
    assert whole[0].per_record_batches == 0 and mixed[0].per_record_batches == 1
    assert whole[1].drop("line").equals(mixed[1].drop("line")) and whole[0].content_hash == mixed[0].content_hash


def test_control_characters_are_removed_on_the_fast_path_too(tmp_path):
    lines = [
        json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(["a\bb\fc\x00d\x7fe", "tab\there", "x\\by"])
    ]
    stats, raw, _ = run(jsonl(tmp_path, *lines))
    assert stats.per_record_batches == 0
    assert raw["text"].to_list() == ["abcde", "tab here", "x\\by"]


def test_lines_split_across_read_blocks_keep_their_numbers(tmp_path, monkeypatch):
    """The reader splits large blocks at newlines; a line cut by a block boundary is joined again, and
    BOM, CRLF, blank lines and a last line without newline behave as with a whole-file read."""
    lines = [b'\xef\xbb\xbf{"text": "first"}\r\n', b"\n", b'{"text": "second one"}\n', b"  \r\n"]
    lines += [json.dumps({"text": f"doc number {i}"}).encode() + b"\n" for i in range(20)]
    lines += [b'{"text": "no newline"}']
    path = jsonl(tmp_path, *lines)
    expected = run(path)
    for block in (1, 5, 17, 64):
        monkeypatch.setattr("condpt_dagster.ingest.records._READ_BLOCK", block)
        stats, raw, quarantine = run(path, IngestSettings(batch_size=3))
        assert raw.equals(expected[1]) and quarantine.equals(expected[2])
        assert (stats.read, stats.blank_lines) == (23, 2)
    assert raw["line"].to_list() == [1, 3, *range(5, 25), 25]
    assert raw["text"].to_list()[-1] == "no newline"


def test_whitespace_is_normalized_only_where_needed_with_the_same_result():
    """Normalization runs its Unicode-aware passes only on rows a cheap search flags; the result equals
    running every pass on every row, for every kind of whitespace the passes touch."""
    import random

    from condpt_dagster.stages.raw_documents import _normalize_whitespace, _strip_tags, normalize_series

    pieces = ["word", "é", " ", "  ", "\n", "\n\n\n", "\r\n", "\r", "\t", "\x0b", "\x0c", "\x85", "\xa0", "\u1680"]
    pieces += ["\u2003", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "<br/>", "<p>", "&nbsp;"]
    rng = random.Random(5)
    weights = [40 if piece == "word" else 1 for piece in pieces]  # mostly words: one trigger per row
    texts = ["".join(rng.choices(pieces, weights, k=rng.randint(1, 12))) for _ in range(5000)]
    texts += [f"word{space}word" for space in ("\n ", " \n", "  ", "\n\n\n", "\t", "\r", "\x85", "\u2003", "\u3000")]
    texts += [" word", "word ", "\u2028word"]
    everywhere = pl.Series(texts).str.replace_all(r"(?-u)[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "")
    everywhere = _strip_tags(everywhere).map_elements(__import__("html").unescape, return_dtype=pl.String)
    assert normalize_series(pl.Series(texts), IngestSettings()).to_list() == _normalize_whitespace(everywhere).to_list()


def test_edge_values_read_the_same_on_both_paths(tmp_path):
    """Integers beyond 64 bits, bool ids and extra fields: the fast path (typed decoding) and the per-line
    path (which a bad record in the batch forces) give the same rows and the same rejects."""
    big = 123456789012345678901234567890
    lines = [
        json.dumps({"id": big, "text": "big id", "meta": {"n": big, "x": 2.5e20}}) + "\n",
        json.dumps({"id": True, "text": "bool id"}) + "\n",
        json.dumps({"text": "dolma", "added": "2024"}) + "\n",
        json.dumps({"id": "d", "text": "plain"}) + "\n",
    ]
    by_record = run(jsonl(tmp_path, *lines), IngestSettings(batch_size=100))
    fast = run(jsonl(tmp_path, lines[0], lines[3], name="f.jsonl"), IngestSettings(batch_size=100))
    assert by_record[0].per_record_batches == 1 and fast[0].per_record_batches == 0
    assert reasons(by_record[2]) == {2: "invalid_id"}
    rows = {r["text"]: r for r in by_record[1].iter_rows(named=True)}
    assert rows["big id"]["id"] == str(big) and json.loads(rows["big id"]["meta"]) == {"n": big, "x": 2.5e20}
    assert fast[1].drop("line").equals(by_record[1].filter(pl.col("text") != "dolma").drop("line"))


@pytest.mark.parametrize("form", ["NFC", "NFKC", "NFD"])
def test_unicode_normalization_skips_only_ascii_texts(form):
    """Only non-ASCII texts go through unicodedata; the result equals normalizing every text."""
    from condpt_dagster.stages.raw_documents import normalize_series

    texts = ["cafe\u0301", "plain ascii", "\ufb01ne", "Å", "x\u00b2", "", "ok"]
    options = IngestSettings(unicode_form=form, strip_html=False, normalize_whitespace=False)
    assert normalize_series(pl.Series(texts), options).to_list() == [unicodedata.normalize(form, t) for t in texts]


def test_python_whitespace_blank_texts_are_rejected_on_both_paths(tmp_path):
    """U+001C..U+001F are whitespace to Python but not to Rust: a text of them is blank on the fast path
    too, and a batch with one is read line by line like before."""
    lines = [json.dumps({"id": "a", "text": "\x1c\x1f \u3000"}) + "\n", json.dumps({"id": "b", "text": "fine"}) + "\n"]
    stats, raw, quarantine = run(jsonl(tmp_path, *lines), IngestSettings(batch_size=10))
    assert stats.per_record_batches == 1 and reasons(quarantine) == {1: "blank_text"} and raw["id"].to_list() == ["b"]
