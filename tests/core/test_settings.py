"""Typed settings: sections parse into typed models; versions follow the settings that change outputs.

The bad-input cases (typos, wrong types, unknown keys) are in tests/security/test_settings_probe.py."""

from __future__ import annotations

import pytest

from condpt_dagster.core.settings import (
    ConditioningOptions,
    IngestOptions,
    SettingsError,
    TrainConfig,
    load_settings,
)


def test_valid_file_gives_typed_sections(tmp_path, monkeypatch):
    monkeypatch.delenv("CONDPT_DATA_ROOT", raising=False)
    path = tmp_path / "condpt.toml"
    path.write_text(f'[lake]\nroot = "{tmp_path}/lake"\n[ingest]\nunicode_form = false\n[blocks]\nblock_size = 64\n')
    settings = load_settings(path)
    assert settings.data_root == str(tmp_path / "lake") and settings.source == str(path)
    assert settings.ingest.unicode_form is False and settings.blocks.block_size == 64
    assert settings.training == TrainConfig()  # untouched sections keep their defaults


def test_versions_follow_output_settings_only():
    assert IngestOptions(batch_size=7).version("1") == IngestOptions().version("1")  # memory, not output
    assert IngestOptions(max_chars=9).version("1") != IngestOptions().version("1")
    assert IngestOptions().version("2") != IngestOptions().version("1")  # a logic revision bump
    with pytest.raises(SettingsError, match="unknown conditioning field"):
        ConditioningOptions(fields=("rating", "mood"))
