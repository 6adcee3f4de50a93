"""Issue 32 (part of point 3): CLI mistakes are one line saying what is wrong and how to fix it, and a failed
run's reason is on the CLI's last line."""

from __future__ import annotations

import os

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from condpt_dagster.cli import main as cli


@pytest.fixture
def invoke(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()

    def run(*args: str):
        return CliRunner().invoke(cli, [*args, "--data", str(lake.root)])

    return run


def test_a_broken_settings_file_is_one_line_under_materialize(invoke, tmp_path, monkeypatch):
    config = tmp_path / "condpt.toml"
    config.write_text("[ingest]\nmax_chars = true\n")
    monkeypatch.setenv("CONDPT_CONFIG", str(config))
    result = invoke("materialize", "--select", "raw_documents")
    assert result.exit_code == 1 and "[ingest] max_chars: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unknown_shard_names_the_registered_ones(invoke, tmp_path):
    source = tmp_path / "s.jsonl"
    source.write_text('{"text": "One document."}\n')
    assert invoke("add-shards", str(source)).exit_code == 0
    result = invoke("materialize", "--select", "raw_documents", "--shard", "nope")
    assert result.exit_code == 1 and "unknown shard(s) nope; registered: s" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_failed_runs_reason_is_on_the_last_line(invoke, tmp_path):
    source = tmp_path / "p.parquet"
    pq.write_table(pa.table({"body": ["a document without a text column"]}), source)
    assert invoke("add-shards", str(source)).exit_code == 0
    result = invoke("materialize", "--select", "raw_documents")
    last = result.output.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("Error: 1 run(s) failed: p (raw_documents:"), result.output
    assert "has no 'text' column" in last


def test_cli_runs_are_listed_under_the_job_the_ui_launches(invoke, tmp_path):
    """Issue 32, point 8: `condpt materialize` runs appear as shard_job / tokenizer_job, not as
    __ephemeral_asset_job__, so the UI's job pages show them."""
    import dagster as dg

    source = tmp_path / "j.jsonl"
    source.write_text('{"text": "One document about the council and its budget."}\n')
    assert invoke("add-shards", str(source)).exit_code == 0
    result = invoke("materialize", "--select", "raw_documents,clean_documents", "--no-converge")
    assert result.exit_code == 0, result.output
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["shard_job"]
        assert runs[0].asset_selection == {dg.AssetKey("raw_documents"), dg.AssetKey("clean_documents")}


def test_third_party_warnings_stay_out_of_the_default_output_and_verbose_brings_them_back(tmp_path):
    """Issue 32, point 7: the default output shows the user's own progress, not other libraries' notices."""
    import subprocess
    import sys

    script = (
        "import warnings, click\n"
        "from condpt_dagster.cli import main\n"
        "@main.command('noisy')\n"
        "def noisy():\n"
        "    warnings.warn_explicit('a library notice', UserWarning, 'lib.py', 1, module='somelib.core')\n"
        "    warnings.warn_explicit('a deprecation', FutureWarning, 'lib.py', 2, module='transformers.x')\n"
        "    warnings.warn_explicit('our own warning', UserWarning, 'own.py', 3, module='condpt_dagster.x')\n"
        "    click.echo('result')\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "CONDPT_VERBOSE")}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    quiet = run("noisy")
    assert "result" in quiet and "our own warning" in quiet
    assert "a library notice" not in quiet and "a deprecation" not in quiet
    verbose = run("--verbose", "noisy")
    assert "a library notice" in verbose and "a deprecation" in verbose


def test_a_report_headline_is_printed_and_shard_metadata_is_not():
    """Issue 32, point 5: `condpt materialize --select eval_report` ends with the report's headline."""
    from condpt_dagster.cli.pipeline import _headlines

    @dg.asset
    def eval_report():
        return dg.MaterializeResult(metadata={"headline": "2 of 6 fields steer: format, topics", "docs": 4})

    @dg.asset
    def raw_documents():
        return dg.MaterializeResult(metadata={"documents": 4})

    result = dg.materialize([eval_report, raw_documents])
    assert _headlines(result) == ["eval_report: 2 of 6 fields steer: format, topics"]
