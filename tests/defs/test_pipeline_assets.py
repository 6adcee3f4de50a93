"""Every asset so far, materialized in order for one shard in a test instance."""

from __future__ import annotations

import gzip
import json

import dagster as dg
import numpy as np

from condpt_dagster.assets.partitions import shards
from condpt_dagster.conditioning.blocks import ShardBlocks
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions


def test_shard_to_blocks(lake, sample_wheels):
    from condpt_dagster.sample_corpus import sample_documents

    docs = sample_documents(sample_wheels, 40, seed=2)
    (lake.inbox / "s1.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode()))
    defs = build_definitions(
        Settings(
            data_root=str(lake.root),
            blocks={"block_size": 128, "heldout_fraction": 0.1},
            tokenizer={"vocab_size": 1000},
        )
    )
    assets = list(defs.assets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["s1"])

        def run(selection, partition_key=None):
            result = dg.materialize(
                assets, selection=selection, partition_key=partition_key, instance=instance, resources=defs.resources
            )
            assert result.success
            return result

        shard = run(["raw_documents", "clean_documents", "document_labels", "conditioned_examples"], "s1")
        clean = shard.asset_materializations_for_node("clean_documents")[0].metadata
        tok = run(["tokenizer"]).asset_materializations_for_node("tokenizer")[0].metadata
        blocks = run(["token_blocks"], "s1").asset_materializations_for_node("token_blocks")[0].metadata
    assert blocks["tokenizer_sha256"].value == tok["sha256"].value
    kept = clean["dagster/row_count"].value
    assert kept + clean["removed"].value == 40 and kept > 20  # Gopher rules remove the one-line snippets
    assert blocks["documents"].value + blocks["heldout_documents"].value == kept
    packed = ShardBlocks.open(lake.blocks("s1"))
    assert packed.tokens.shape == (blocks["blocks"].value, 128)
    assert int(np.asarray(packed.mask).sum()) == blocks["tokens"].value - blocks["header_tokens"].value


def test_a_shard_of_duplicates_flows_through_as_an_empty_partition(lake, sample_wheels):
    from condpt_dagster.sample_corpus import sample_documents

    docs = sample_documents(sample_wheels, 30, seed=4)
    body = "".join(json.dumps(d) + "\n" for d in docs).encode()
    for name in ("s1", "s2"):  # s2 repeats s1 under the same ids: every document is an exact duplicate
        (lake.inbox / f"{name}.jsonl.gz").write_bytes(gzip.compress(body))
    defs = build_definitions(
        Settings(data_root=str(lake.root), blocks={"block_size": 64}, tokenizer={"vocab_size": 600})
    )
    per_shard = ["raw_documents", "clean_documents", "document_labels", "conditioned_examples"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["s1", "s2"])

        def run(selection, partition_key=None):
            result = dg.materialize(
                list(defs.assets),
                selection=selection,
                partition_key=partition_key,
                instance=instance,
                resources=defs.resources,
            )
            assert result.success
            return result

        run(per_shard, "s1")
        empty = run(per_shard, "s2")
        run(["tokenizer"])
        empty_blocks = run(["token_blocks"], "s2")
        full = run(["token_blocks"], "s1").asset_materializations_for_node("token_blocks")[0].metadata
    clean = empty.asset_materializations_for_node("clean_documents")[0].metadata
    assert clean["dagster/row_count"].value == 0 and clean["raw_documents"].value == 30
    assert empty.asset_materializations_for_node("document_labels")[0].metadata["dagster/row_count"].value == 0
    assert empty_blocks.asset_materializations_for_node("token_blocks")[0].metadata["documents"].value == 0
    from condpt_dagster.stages.conditioned_examples import labels_version_of
    from condpt_dagster.stages.document_labels import stored_labeler_version

    version = stored_labeler_version(lake.labels("s2"))  # lineage holds for an empty shard too
    assert version and labels_version_of(lake.conditioned("s2")) == version == stored_labeler_version(lake.labels("s1"))
    assert full["documents"].value > 0


def test_clean_documents_waits_for_earlier_shards_raw_documents(lake, monkeypatch):
    import condpt_dagster.assets.clean_documents as asset_module

    monkeypatch.setattr(asset_module, "WAIT_RETRIES", 1)
    monkeypatch.setattr(asset_module, "WAIT_SECONDS", 0)
    for name in ("s1", "s2"):
        (lake.inbox / f"{name}.jsonl.gz").write_bytes(gzip.compress(b'{"text": "one document"}\n'))
    defs = build_definitions(Settings(data_root=str(lake.root)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(shards.name, ["s1", "s2"])
        result = dg.materialize(
            list(defs.assets),
            selection=["raw_documents", "clean_documents"],
            partition_key="s2",  # s1 sorts first and has no raw_documents yet
            instance=instance,
            resources=defs.resources,
            raise_on_error=False,
        )
        assert not result.success
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert len(retries) == 1 and not lake.clean("s2").exists()
