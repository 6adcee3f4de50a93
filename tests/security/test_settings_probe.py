"""Issue 17, part 4: settings that would silently change data are errors naming the file, section and key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli
from condpt_dagster.core.settings import SettingsError, load_settings

BAD = """
[ingest]
oversize = "quarantin"
strip_html = "no"

[labeller]
name = "composite"

[labeler]
nmae = "composite"
batch_docs = 0

[conditioning]
fields = "rating"
"""


def test_every_problem_is_reported_with_file_section_and_key(tmp_path):
    path = tmp_path / "condpt.toml"
    path.write_text(BAD)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid settings")
    expected = [
        "[ingest] oversize: Input should be 'quarantine' or 'truncate' (got 'quarantin')",
        "[ingest] strip_html: Input should be a valid boolean (got 'no')",
        "unknown section [labeller] (did you mean [labeler]?)",
        "[labeler] nmae: unknown setting (did you mean 'name'?)",
        "[labeler] batch_docs: Input should be greater than or equal to 1 (got 0)",
        "[conditioning] fields: Input should be a valid tuple (got 'rating')",
    ]
    for part in expected:
        assert part in message


def test_cli_prints_settings_errors_without_a_traceback(tmp_path, monkeypatch):
    path = tmp_path / "condpt.toml"
    path.write_text(BAD)
    monkeypatch.setenv("CONDPT_CONFIG", str(path))
    result = CliRunner().invoke(cli, ["audit", "tags", "--data", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "[ingest] oversize" in result.output
    assert not isinstance(result.exception, SettingsError)  # handled: click exits with the message


LOOSE = """
[ingest]
max_chars = true

[conditioning]
seed = "7"
conditional_dropout = "0.1"

[training]
learning_rate = "1e-3"
zero_stage = true
max_steps = 10.0

[clean.gopher_quality]
min_doc_words = "50"
"""


def test_numbers_and_booleans_are_strict(tmp_path):
    """Issue 28, hole 8: ``true`` is no number and ``"7"`` no integer; nothing is coerced."""
    path = tmp_path / "condpt.toml"
    path.write_text(LOOSE)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    message = str(err.value)
    for part in (
        "[ingest] max_chars: Input should be a valid integer (got True)",
        "[conditioning] seed: Input should be a valid integer (got '7')",
        "[conditioning] conditional_dropout: Input should be a valid number (got '0.1')",
        "[training] learning_rate: Input should be a valid number (got '1e-3')",
        "[training] zero_stage: Input should be a valid integer (got True)",
        "[training] max_steps: Input should be a valid integer (got 10.0)",
        "gopher_quality.min_doc_words: Input should be a valid integer (got '50')",
    ):
        assert part in message, message


def test_strict_settings_still_take_toml_arrays_and_integers_for_floats(tmp_path):
    path = tmp_path / "condpt.toml"
    path.write_text(
        '[conditioning]\nfields = ["rating", "topics"]\nconditional_dropout = 0\n'
        "[clean.gopher_repetition]\ntop_n_grams = [[2, 0.25], [3, 1]]\n[training]\nlearning_rate = 1\n"
    )
    settings = load_settings(path)
    assert settings.conditioning.fields == ("rating", "topics") and settings.conditioning.conditional_dropout == 0.0
    assert settings.clean.gopher_repetition.top_n_grams == ((2, 0.25), (3, 1.0))
    assert settings.training.learning_rate == 1.0


@pytest.mark.parametrize(
    ("formats", "reason"),
    [
        ('["mds"]', "[export] formats.0: Input should be 'megatron' or 'hf' (got 'mds')"),
        ("[]", "[export] formats: Tuple should have at least 1 item"),
        ('["hf", "hf"]', "[export] formats: Value error, formats ('hf', 'hf') name one format twice"),
        ('"hf"', "[export] formats: Input should be a valid tuple"),
    ],
)
def test_export_formats_are_known_distinct_and_a_list(tmp_path, formats, reason):
    path = tmp_path / "condpt.toml"
    path.write_text(f"[export]\nformats = {formats}\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert reason in str(err.value)
    path.write_text('[export]\nformats = ["hf"]\n')
    assert load_settings(path).export.formats == ("hf",)
