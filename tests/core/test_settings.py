"""Typed settings: sections parse into typed models; versions follow the settings that change outputs.

The bad-input cases (typos, wrong types, unknown keys) are in tests/security/test_settings_probe.py."""

from __future__ import annotations

import pytest

from condpt_dagster.core.settings import (
    ConditioningSettings,
    IngestSettings,
    SettingsError,
    TrainingSettings,
    load_settings,
)


def test_valid_file_gives_typed_sections(tmp_path, monkeypatch):
    monkeypatch.delenv("CONDPT_DATA_ROOT", raising=False)
    path = tmp_path / "condpt.toml"
    path.write_text(f'[lake]\nroot = "{tmp_path}/lake"\n[ingest]\nunicode_form = false\n[blocks]\nblock_size = 64\n')
    settings = load_settings(path)
    assert settings.data_root == str(tmp_path / "lake") and settings.source == str(path)
    assert settings.ingest.unicode_form is False and settings.blocks.block_size == 64
    assert settings.training == TrainingSettings()  # untouched sections keep their defaults


def test_versions_follow_output_settings_only():
    assert IngestSettings(batch_size=7).version("1") == IngestSettings().version("1")  # memory, not output
    assert IngestSettings(max_chars=9).version("1") != IngestSettings().version("1")
    assert IngestSettings().version("2") != IngestSettings().version("1")  # a logic revision bump
    with pytest.raises(SettingsError, match="unknown conditioning field"):
        ConditioningSettings(fields=("rating", "mood"))


@pytest.mark.parametrize("name", ["demo.toml", "steer_cpu.toml", "steer_gpu.toml"])
def test_shipped_configs_load_and_give_the_experiment_its_arms(name):
    from pathlib import Path

    settings = load_settings(Path(__file__).resolve().parents[2] / "configs" / name)
    arms = [
        settings.experiment.train_config(settings.training, role, settings.blocks.block_size)
        for role in ("conditional", "unconditional")
    ]
    assert [a.drop_headers for a in arms] == [False, True]
    assert arms[0].model_dump(exclude={"run", "drop_headers"}) == arms[1].model_dump(exclude={"run", "drop_headers"})
    assert arms[0].snapshot_every * settings.experiment.curve_points == arms[0].max_steps
    assert settings.training.snapshot_every is None  # only the experiment's arms export snapshots


def test_every_section_class_is_named_after_its_section():
    """One naming rule (README, docs/design.md "Settings"): ``[labeler_adapter]`` -> ``LabelerAdapterSettings``."""
    from condpt_dagster.core.settings import SECTIONS

    for section, cls in SECTIONS.items():
        expected = "".join(part.capitalize() for part in section.split("_")) + "Settings"
        assert cls.__name__ == expected, (section, cls.__name__)
