"""Real components: `dagster dev` (webserver + daemon), a run launched through GraphQL, files on disk."""

from __future__ import annotations

import gzip
import json
import subprocess

import polars as pl
import pytest
from dagster_graphql import DagsterGraphQLClient

from harness.e2e_util import BIN, SHORT_DOCS_TOML, dagster_dev, service_env, wait_until

pytestmark = pytest.mark.e2e


def test_run_one_partition_through_graphql(tmp_path):
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    shard = tmp_path / "e2e-1.jsonl.gz"
    shard.write_bytes(
        gzip.compress(
            b"".join(json.dumps({"id": f"d{i}", "text": f"document {i}"}).encode() + b"\n" for i in range(50))
        )
    )
    # The sensor stays stopped so that this test's run is the only one.
    config = tmp_path / "condpt.toml"
    config.write_text(SHORT_DOCS_TOML)
    env = service_env(data, tmp_path / "dagster_home", CONDPT_INBOX_SENSOR="stopped", CONDPT_CONFIG=str(config))
    subprocess.run([str(BIN / "condpt"), "add-shards", str(shard)], env=env, check=True)

    with dagster_dev(env, tmp_path / "dagster-dev.log") as port:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_id = client.submit_job_execution(
            "shard_job",
            tags={"dagster/partition": "e2e-1"},
            asset_selection=[
                ["raw_documents"],
                ["clean_documents"],
                ["document_labels"],
            ],  # the tokenizer does not exist yet
        )

        def finished():
            status = client.get_run_status(run_id).value
            return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None

        assert wait_until(finished, 240, f"run {run_id}", interval=1) == "SUCCESS"

    raw = pl.read_parquet(data / "raw" / "e2e-1.parquet")
    assert len(raw) == 50 and raw["id"][0] == "d0"
    labels = pl.read_parquet(data / "labels" / "e2e-1.parquet")
    assert sorted(labels["id"]) == sorted(raw["id"])
