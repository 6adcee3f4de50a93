"""The production deployment's pieces that need no running service: the instance files validate against
Dagster's schema, the Kubernetes launcher and training runner are built from them, assets carry their pools
and backfill policy, and unreachable PostgreSQL or webservers fail at once with the URL, password masked."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.instance.config import dagster_instance_config

from condpt_dagster.assets.pools import GPU_POOL, IO_POOL, PER_SHARD_BACKFILL
from condpt_dagster.cli import main as cli
from condpt_dagster.core.settings import KubernetesSettings, Settings, SettingsError
from condpt_dagster.defs.definitions import build_definitions
from condpt_dagster.instance.config import StorageUnreachable, masked_url, postgres_url, probe_storage
from condpt_dagster.resources import KubernetesTrainingRunner, SubprocessTrainingRunner
from harness.e2e_util import free_port  # a loopback port nothing listens on

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PG_ENV = {
    "CONDPT_PG_HOST": "127.0.0.1",
    "CONDPT_PG_USER": "condpt",
    "CONDPT_PG_PASSWORD": "pa:ss/wo@rd",
    "CONDPT_PG_DB": "condpt",
}


@pytest.fixture
def pg_env(monkeypatch):
    for key, value in {**PG_ENV, "CONDPT_PG_PORT": str(free_port()), "CONDPT_K8S_NAMESPACE": "condpt"}.items():
        monkeypatch.setenv(key, value)


def home_with(tmp_path: Path, config: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(config, home / "dagster.yaml")
    return home


@pytest.mark.parametrize("config", ["dagster.yaml", "k8s/dagster.yaml"])
def test_instance_files_validate_against_dagster_schema(tmp_path, pg_env, config):
    settings, _ = dagster_instance_config(str(home_with(tmp_path, DEPLOY / config)))
    assert settings["storage"]["postgres"]["postgres_db"]["password"] == {"env": "CONDPT_PG_PASSWORD"}
    assert settings["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert settings["concurrency"]["pools"]["granularity"] == "op"
    assert settings["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    # a worker killed inside a pooled step must not hold its slot for ever
    assert settings["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    text = (DEPLOY / config).read_text()
    assert "password: {env:" in text and "pa:ss" not in text  # credentials only from the environment


def test_k8s_run_launcher_is_built_from_its_config(tmp_path, pg_env):
    from dagster._config import process_config
    from dagster._serdes.config_class import ConfigurableClassData
    from dagster_k8s import K8sRunLauncher

    kubeconfig = tmp_path / "kubeconfig"  # a cluster that is never contacted: building the launcher only
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    settings, _ = dagster_instance_config(str(home_with(tmp_path, DEPLOY / "k8s" / "dagster.yaml")))
    launcher_config = {**settings["run_launcher"]["config"], "load_incluster_config": False}
    launcher_config["kubeconfig_file"] = str(kubeconfig)
    processed = process_config(K8sRunLauncher.config_type(), launcher_config)  # env values resolved here
    assert processed.success, processed.errors
    data = ConfigurableClassData(settings["run_launcher"]["module"], settings["run_launcher"]["class"], "{}")
    launcher = K8sRunLauncher.from_config_value(data, processed.value)
    assert launcher.job_namespace == "condpt" and launcher.instance_config_map == "condpt-dagster-instance"
    assert launcher.env_secrets == ["condpt-postgres", "condpt-lake"]


def test_assets_declare_pools_and_one_shard_per_run(tmp_path):
    defs = build_definitions(Settings(data_root=str(tmp_path)))
    nodes = {a.key.to_user_string(): a.node_def.pool for a in defs.assets}
    assert nodes["document_labels"] == nodes["checkpoint"] == nodes["steering_experiment"] == GPU_POOL
    assert nodes["raw_documents"] == IO_POOL and nodes["conditioned_examples"] is None
    for name in ("raw_documents", "clean_documents", "document_labels", "conditioned_examples", "token_blocks"):
        assert defs.resolve_assets_def(name).backfill_policy == PER_SHARD_BACKFILL


def test_training_runs_in_a_pod_only_when_configured(tmp_path):
    local = build_definitions(Settings(data_root=str(tmp_path)))
    assert isinstance(local.resources["training_runner"], SubprocessTrainingRunner)
    k8s = KubernetesSettings(train_in_pod=True, image="registry/condpt:1", gpus_per_pod=8, lake_volume_claim="lake")
    defs = build_definitions(Settings(data_root=str(tmp_path), kubernetes=k8s))
    dg.Definitions.validate_loadable(defs)
    runner = defs.resources["training_runner"]
    assert isinstance(runner, KubernetesTrainingRunner)
    spec = runner.pod_spec()
    assert spec["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 8}}
    assert spec["containers"][0]["volumeMounts"] == [{"name": "lake", "mountPath": str(tmp_path)}]
    assert runner.pod_command(["/venv/bin/python", "-m", "x"]) == ["python", "-m", "x"]
    with pytest.raises(SettingsError, match="needs image"):
        KubernetesSettings(train_in_pod=True)


def test_unreachable_postgres_fails_at_once_naming_it_without_the_password(tmp_path, pg_env, monkeypatch):
    home = home_with(tmp_path, DEPLOY / "dagster.yaml")
    url = postgres_url(home / "dagster.yaml")
    assert url is not None and "pa%3Ass%2Fwo%40rd" in url  # quoted: the password may hold any character
    with pytest.raises(StorageUnreachable) as exc:
        probe_storage(home, timeout_s=2)
    message = str(exc.value)
    assert "postgresql://condpt:***@127.0.0.1:" in message and "refused" in message
    assert "pa:ss" not in message and "pa%3Ass" not in message

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("CONDPT_DATA_ROOT", str(tmp_path / "data"))
    shard = tmp_path / "s.jsonl"
    shard.write_text('{"id": "a", "text": "hello"}\n')
    result = CliRunner().invoke(cli, ["add-shards", str(shard)])
    assert result.exit_code != 0 and "unreachable" in result.output and "pa:ss" not in result.output

    monkeypatch.delenv("CONDPT_PG_PASSWORD")
    with pytest.raises(StorageUnreachable, match="CONDPT_PG_PASSWORD is not set"):
        probe_storage(home)


def test_submit_to_an_unreachable_webserver_fails_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDPT_DATA_ROOT", str(tmp_path / "data"))
    url = f"http://ops:hunter2@127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["materialize", "--select", "raw_documents", "--submit", url])
    assert result.exit_code != 0
    assert masked_url(url) in result.output and "hunter2" not in result.output
    result = CliRunner().invoke(cli, ["materialize", "--select", "raw_documents,tokenizer", "--submit", url])
    assert result.exit_code != 0 and "not both" in result.output  # checked before anything is sent
    result = CliRunner().invoke(cli, ["materialize", "--select", "tokenizer", "--wait"])
    assert result.exit_code != 0 and "--wait only applies with --submit" in result.output
