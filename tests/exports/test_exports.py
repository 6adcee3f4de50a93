"""Token block exports read back by each engine's own reader: Megatron-LM's IndexedDataset and Hugging Face
``datasets``; lineage in each; refused and interrupted exports leave nothing half-written."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import make_lake

from condpt_dagster.conditioning.blocks import BlockMeta, ShardBlocks, blocks_data_version
from condpt_dagster.exports import ExportError
from condpt_dagster.exports.card import dataset_card
from condpt_dagster.exports.manifest import ExportManifest
from condpt_dagster.stages.block_exports import export_shard

with warnings.catch_warnings():  # megatron.core's import warns that GPU kernels (Apex, TE) are absent
    warnings.simplefilter("ignore", UserWarning)
    from megatron.core.datasets.indexed_dataset import IndexedDataset


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    # several documents per 64-token block and documents spanning blocks: both ways of cutting are exercised
    return make_lake(tmp_path_factory.mktemp("exports") / "data", n_docs=60, words_per_doc=50)


def documents_of(blocks: ShardBlocks, spans_path) -> list[np.ndarray]:
    """condpt's own view: each document's tokens, rebuilt from the blocks and their spans."""
    spans = pq.read_table(spans_path).to_pylist()
    docs: dict[str, list[int]] = {}
    for piece in spans:
        docs.setdefault(piece["id"], []).extend(blocks.tokens[piece["block"], piece["start"] : piece["end"]].tolist())
    return [np.array(tokens) for tokens in docs.values()]


def test_megatron_reads_every_document_as_condpt_packed_it(lake):
    [exported] = export_shard(lake, "a", ("megatron",))
    blocks = ShardBlocks.open(lake.blocks("a"))
    dataset = IndexedDataset(str(exported.path))
    ours = documents_of(blocks, lake.blocks("a").spans)
    assert len(dataset) == len(ours) == blocks.meta.documents
    assert any(len(doc) > blocks.meta.block_size for doc in ours)  # some documents span blocks
    for i, doc in enumerate(ours):
        assert np.array_equal(dataset[i], doc)
    stream = np.concatenate([dataset[i] for i in range(len(dataset))])
    assert stream.tobytes() == np.asarray(blocks.tokens).reshape(-1)[: blocks.meta.tokens].tobytes()
    assert dataset[0].dtype == np.uint16 and list(dataset.document_indices) == list(range(len(ours) + 1))
    manifest = ExportManifest.load(exported.path.parent / "export.json")
    assert manifest.tokenizer_sha256 == blocks.meta.tokenizer_sha256 and manifest.unit == "document"
    assert manifest.blocks_data_version == blocks_data_version(lake.blocks("a"))


def test_hugging_face_datasets_reads_every_block_with_its_mask_and_documents(lake, tmp_path):
    datasets = pytest.importorskip("datasets")
    [exported] = export_shard(lake, "a", ("hf",))
    export_shard(lake, "b", ("hf",))
    blocks = ShardBlocks.open(lake.blocks("a"))
    loaded = datasets.load_dataset(str(lake.exports.hf_dir), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(loaded) == blocks.meta.n_blocks + ShardBlocks.open(lake.blocks("b")).meta.n_blocks
    shard_a = datasets.load_dataset(
        "arrow", data_files=str(exported.path), split="train", cache_dir=str(tmp_path / "cache")
    )
    columns = shard_a.with_format("numpy")[:]
    assert np.array_equal(columns["input_ids"], np.asarray(blocks.tokens))
    assert shard_a.with_format("torch")[0]["input_ids"].tolist() == blocks.tokens[0].tolist()
    assert columns["loss_mask"].dtype == bool
    assert np.array_equal(columns["loss_mask"], np.asarray(blocks.mask).astype(bool))
    assert not columns["loss_mask"].all()  # the header mask travels
    spans = pq.read_table(lake.blocks("a").spans).to_pylist()
    for block in (0, len(shard_a) - 1):
        pieces = [s for s in spans if s["block"] == block]
        assert list(shard_a[block]["document_ids"]) == [s["id"] for s in pieces]
        assert list(shard_a[block]["document_starts"]) == [s["start"] for s in pieces]
    with pa.ipc.open_stream(exported.path) as reader:  # datasets keeps its own metadata, pyarrow shows ours
        lineage = json.loads(reader.schema.metadata[b"condpt"])
    assert lineage["tokenizer_sha256"] == blocks.meta.tokenizer_sha256 and lineage["shard"] == "a"
    card = lake.exports.hf_card.read_text()
    assert "`a`" in card and "`b`" in card and blocks_data_version(lake.blocks("a")) in card


def test_exports_are_deterministic(lake):
    first = export_shard(lake, "b", ("megatron", "hf"))
    contents = [(e.path.parent / "text_document.bin").read_bytes() for e in first[:1]]
    again = export_shard(lake, "b", ("megatron", "hf"))
    assert [(e.path.parent / "text_document.bin").read_bytes() for e in again[:1]] == contents
    assert [e.manifest for e in again] == [e.manifest for e in first]


def test_a_vocabulary_the_format_cannot_hold_is_refused(tmp_path):
    lake = make_lake(tmp_path / "data", n_docs=8, shard_names=("a",))
    files = lake.blocks("a")
    meta = BlockMeta.load(files.meta)
    huge = BlockMeta(**{**meta.__dict__, "vocab_size": 2**31 + 5})
    huge.save(files.meta)
    for fmt in ("megatron", "hf"):
        with pytest.raises(ExportError, match=rf"2,147,483,653 tokens does not fit the {fmt} format's .*int32"):
            export_shard(lake, "a", (fmt,))
    assert not lake.exports.megatron("a").exists() and not lake.exports.hf_data("a").exists()


def test_blocks_whose_spans_disagree_with_their_meta_are_refused(tmp_path):
    lake = make_lake(tmp_path / "data", n_docs=8, shard_names=("a",))
    files = lake.blocks("a")
    meta = BlockMeta.load(files.meta)
    BlockMeta(**{**meta.__dict__, "tokens": meta.tokens + 1}).save(files.meta)
    counts = r"8 documents of \d+ tokens"
    match = rf"a\.spans\.parquet: {counts}, but .*a\.meta\.json counts {counts}; rematerialize token_blocks for 'a'"
    with pytest.raises(ExportError, match=match):
        export_shard(lake, "a", ("hf",))


def test_an_interrupted_export_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    lake = make_lake(tmp_path / "data", n_docs=8, shard_names=("a",))
    [before] = export_shard(lake, "a", ("megatron",))
    old = sorted((p.name, p.read_bytes()) for p in before.path.parent.iterdir())
    from megatron.core.datasets import indexed_dataset

    def crash(self, *args):  # the .bin is written, the .idx is not
        raise OSError("killed while writing the index")

    monkeypatch.setattr(indexed_dataset._IndexWriter, "write", crash)
    with pytest.raises(OSError, match="killed"):
        export_shard(lake, "a", ("megatron",))
    assert sorted((p.name, p.read_bytes()) for p in before.path.parent.iterdir()) == old
    assert [p.name for p in lake.exports.megatron("a").parent.iterdir()] == ["a"]  # no temporary left visible


def test_the_card_keeps_label_text_inside_its_fences():
    manifest = ExportManifest(
        format="hf", shard="s|1", unit="block", sequences=1, documents=1, tokens=3, dtype="int32", vocab_size=9,
        block_size=4, tokenizer_sha256="0" * 64, blocks_data_version="v", labels_version="l`x",
        conditioned_data_version=None, mask_header=True,
    )  # fmt: skip
    header = "<|tags|>```\n---\nconfigs: evil\n```<script>alert(1)</script>"
    card = dataset_card([manifest], header, ["<|body|>", "<|rating:G|>"])
    assert card.count("---\n") == 2 + 1 and card.index("configs: evil") > card.index("````\n<|tags|>")
    assert "````\n<|tags|>```\n---\nconfigs: evil\n```<script>alert(1)</script>\n````" in card
    assert "| `s\\|1` |" in card and "`l'x`" in card and "`<|body|>`" in card
