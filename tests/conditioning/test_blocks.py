"""The block meta record: what token_blocks writes is what every reader gets back, typed, and a damaged or
foreign file is refused with its path and the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from factories import make_lake

from condpt_dagster.conditioning.blocks import BlockMeta, ShardBlocks
from condpt_dagster.conditioning.seen import training_label_paths


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_lake(tmp_path_factory.mktemp("lake"), n_docs=40, heldout_fraction=0.2)


def test_written_meta_reads_back_typed_and_matches_the_blocks(lake):
    files = lake.blocks("a")
    meta = BlockMeta.load(files.meta)
    blocks = ShardBlocks.open(files)
    assert blocks.meta == meta
    assert blocks.tokens.shape == (meta.n_blocks, meta.block_size) == blocks.mask.shape
    assert blocks.tokens.dtype == np.dtype(meta.dtype) and meta.block_size == 64
    assert meta.documents + meta.heldout_documents > 0 and meta.options["block_size"] == 64
    # key order and values on disk are the record's fields, so a save of the loaded record is the same file
    on_disk = json.loads(files.meta.read_text(encoding="utf-8"))
    assert list(on_disk) == list(BlockMeta.__dataclass_fields__)
    copy = files.meta.with_name("copy.meta.json")
    meta.save(copy)
    assert copy.read_text(encoding="utf-8") == files.meta.read_text(encoding="utf-8")


def test_meta_without_lineage_from_older_blocks_loads_with_none(lake, tmp_path):
    on_disk = json.loads(lake.blocks("a").meta.read_text(encoding="utf-8"))
    for key in ("labels_version", "conditioned_data_version", "options", "padding_tokens"):
        del on_disk[key]
    old = tmp_path / "old.meta.json"
    old.write_text(json.dumps(on_disk), encoding="utf-8")
    meta = BlockMeta.load(old)
    assert meta.labels_version is None and meta.conditioned_data_version is None and meta.options == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not a block meta file"),
        ('{"shard": "a"}', "missing required field"),
        (
            '{"shard": "a", "block_size": "64", "dtype": "uint16", "n_blocks": 1, "vocab_size": 9, "eos_id": 0, '
            '"pad_id": 1, "body_id": 2, "tokenizer_sha256": "x"}',
            "Expected `int`, got `str` - at `\\$.block_size`",
        ),
    ],
)
def test_a_damaged_meta_file_is_refused_naming_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "s.meta.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=reason) as exc:
        BlockMeta.load(path)
    assert str(path) in str(exc.value)


def test_missing_blocks_say_which_asset_to_materialize(lake):
    with pytest.raises(FileNotFoundError, match="materialize token_blocks"):
        BlockMeta.load(lake.blocks("absent").meta)


def test_seen_values_read_the_labels_version_the_blocks_record(lake):
    # make_lake writes blocks without labels: no labels file to read, and the packed ids are the spans' ids
    labels_path, packed = training_label_paths(lake, "a")
    assert labels_path is None and packed and all(doc_id.startswith("d") for doc_id in packed)
