"""bench/corpora/devsets.load: a source added to the dev sets leaves the other sources' samples as they were, so
figures measured before and after it compare on the same documents."""

from __future__ import annotations

from bench.corpora import devsets


def _reader(source: str, n: int = 30):
    def read(cache):
        for i in range(n):
            yield devsets.DevDoc(f"{source}-{i}", source, f"text {i}", "test", format="news")

    return read


def test_a_source_added_last_leaves_every_earlier_sample_as_it_was(monkeypatch, tmp_path):
    first = {name: _reader(name) for name in ("news", "commons", "email", "jargon", "wiki")}
    monkeypatch.setattr(devsets, "SOURCES", first)
    before = [d.id for d in devsets.load(tmp_path, "test", 10)]
    # "lee" sorts before "wiki" by name; it still draws after every source added before it
    monkeypatch.setattr(devsets, "SOURCES", {**first, "lee": _reader("lee")})
    after = [d.id for d in devsets.load(tmp_path, "test", 10)]
    assert [i for i in after if not i.startswith("lee-")] == before
    assert len(after) == len(before) + 10
    assert devsets.ADDED_LATER.index("lee") > devsets.ADDED_LATER.index("wiki")
