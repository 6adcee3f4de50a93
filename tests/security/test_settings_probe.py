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
