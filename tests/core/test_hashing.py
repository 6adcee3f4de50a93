"""Hashes: cached content hashes are reused until the file changes; versions and draws are stable."""

from __future__ import annotations

import os

from condpt_dagster.core import hashing
from condpt_dagster.core.hashing import HASH_CACHE_NAME, cached_sha256, config_version, file_sha256, unit_hash


def test_cached_hash_is_reused_until_size_or_mtime_change(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    calls = []
    real = hashing.file_sha256
    monkeypatch.setattr(hashing, "file_sha256", lambda p: calls.append(p) or real(p))
    first = cached_sha256(weights)
    assert first == real(weights) and len(calls) == 1
    assert (tmp_path / HASH_CACHE_NAME).is_file()
    assert cached_sha256(weights) == first and len(calls) == 1  # from the cache beside the file
    weights.write_bytes(b"b" * 1000)  # same size, new content and mtime
    os.utime(weights, ns=(1, 1))
    assert cached_sha256(weights) == real(weights) != first and len(calls) == 2


def test_read_only_folder_uses_the_user_cache(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"x")
    monkeypatch.setattr(hashing, "USER_HASH_CACHE", tmp_path / "user-cache")
    monkeypatch.setattr(hashing.os, "access", lambda path, mode: False)
    assert cached_sha256(folder / "w.bin") == file_sha256(folder / "w.bin")
    assert not (folder / HASH_CACHE_NAME).exists() and list((tmp_path / "user-cache").iterdir())


def test_config_version_and_unit_hash_are_deterministic():
    assert config_version("1", {"a": 1, "b": [1, 2]}) == config_version("1", {"b": [1, 2], "a": 1})
    assert config_version("1", {"a": 1}) != config_version("2", {"a": 1})
    draws = [unit_hash("seed", i) for i in range(1000)]
    assert draws == [unit_hash("seed", i) for i in range(1000)] and all(0 <= d < 1 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
