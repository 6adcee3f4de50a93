"""The dagster.yaml condpt writes: new homes get it, files an earlier condpt wrote are upgraded in place
(the run launcher's module moved out of the code location), a user's own file is left alone, and a user's
file naming the old module is refused with the line to change."""

from __future__ import annotations

import re

import pytest

from condpt_dagster.instance.config import INSTANCE_TEMPLATE, InstanceConfigError, ensure_instance_config

OLD_MODULE = "condpt_dagster.defs.run_launcher"


def test_a_new_home_gets_the_template(tmp_path):
    config = ensure_instance_config(tmp_path / "home")
    assert config.read_text(encoding="utf-8") == INSTANCE_TEMPLATE.read_text(encoding="utf-8")
    assert "condpt_dagster.instance.run_launcher" in config.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "earlier",
    [
        "telemetry:\n  enabled: false\n",
        INSTANCE_TEMPLATE.read_text(encoding="utf-8")
        .replace("condpt_dagster.instance.run_launcher", OLD_MODULE)
        .replace("condpt_dagster/instance/run_launcher.py", "condpt_dagster/defs/run_launcher.py"),
    ],
    ids=["first-default", "before-the-move"],
)
def test_files_an_earlier_condpt_wrote_are_upgraded(tmp_path, earlier):
    (tmp_path / "dagster.yaml").write_text(earlier, encoding="utf-8")
    config = ensure_instance_config(tmp_path)
    assert config.read_text(encoding="utf-8") == INSTANCE_TEMPLATE.read_text(encoding="utf-8")


def test_a_users_own_file_is_left_alone(tmp_path):
    own = "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster.core.run_coordinator\n"
    (tmp_path / "dagster.yaml").write_text(own, encoding="utf-8")
    assert ensure_instance_config(tmp_path).read_text(encoding="utf-8") == own


def test_a_users_file_with_the_old_launcher_module_is_refused_with_the_fix(tmp_path):
    own = f"run_launcher:\n  module: {OLD_MODULE}\n  class: MonitoredRunLauncher\nretention: {{}}\n"
    (tmp_path / "dagster.yaml").write_text(own, encoding="utf-8")
    with pytest.raises(InstanceConfigError, match=re.escape("module: condpt_dagster.instance.run_launcher")) as exc:
        ensure_instance_config(tmp_path)
    assert str(tmp_path / "dagster.yaml") in str(exc.value)
    assert (tmp_path / "dagster.yaml").read_text(encoding="utf-8") == own  # nothing rewritten
