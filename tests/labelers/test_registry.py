"""The labeler registry: one entry makes a labeler selectable. Every entry names a class that exists, takes
only [labeler] keys that exist, and the settings accept exactly the registered names."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from condpt_dagster.core.labeler_settings import LABELERS, LabelerSettings
from condpt_dagster.core.settings import SettingsError
from condpt_dagster.labelers import Labeler, _named, build_labeler, labeler_options


@pytest.mark.parametrize("name", list(LABELERS))
def test_every_entry_names_a_labeler_and_real_settings(name):
    kind = LABELERS[name]
    factory = _named(kind.factory)
    assert issubclass(factory, Labeler)
    assert set(kind.options) <= set(LabelerSettings.model_fields), "options must be [labeler] keys"
    arguments = {kind.renamed.get(k, k) for k in kind.options}
    if kind.settings_class:
        assert arguments <= {f.name for f in dataclasses.fields(_named(kind.settings_class))}
    else:
        assert arguments <= set(inspect.signature(factory).parameters)
    assert kind.requires is None or kind.requires in kind.options


def test_settings_accept_exactly_the_registered_names():
    for name in LABELERS:
        LabelerSettings(name=name, **({LABELERS[name].requires: "/x"} if LABELERS[name].requires else {}))
    with pytest.raises(SettingsError, match="Input should be 'composite'"):
        LabelerSettings(name="magic")


def test_a_missing_required_key_is_refused_when_read_or_when_built():
    with pytest.raises(SettingsError, match="labeler 'generative' needs model_dir"):
        LabelerSettings(name="generative")
    settings = LabelerSettings(name="student")  # its folder defaults to the lake's: checked when built
    with pytest.raises(ValueError, match="labeler 'student' needs student_dir"):
        build_labeler(settings.name, labeler_options(settings))


def test_renamed_keys_reach_the_labeler_under_its_own_name():
    assert labeler_options(LabelerSettings(encoder_dir="/enc", threads=2)) == {
        "model_dir": "/enc",
        "quantize": False,
        "threads": 2,
    }


def test_the_student_takes_its_blas_threads_from_the_settings(tmp_path):
    settings = LabelerSettings(name="student", student_dir=str(tmp_path), threads=2)
    assert build_labeler(settings.name, labeler_options(settings)).threads == 2
    assert build_labeler("student", {"student_dir": str(tmp_path)}).threads == 1  # one process per core
