"""Conditioning templates, the tokenizer's control tokens, packed blocks with lineage, the dataset."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from factories import label_row, write_labels

from condpt_dagster.conditioning.blocks import BlockMeta, ShardBlocks, blocks_data_version
from condpt_dagster.conditioning.headers import build_header
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import BlockFiles, DataLake
from condpt_dagster.core.settings import BlocksSettings, ConditioningSettings, SettingsError, TokenizerSettings
from condpt_dagster.core.vocab import BODY_TOKEN, EOS
from condpt_dagster.stages.conditioned_examples import condition_shard
from condpt_dagster.stages.token_blocks import pack_shard
from condpt_dagster.stages.tokenizer import build_tokenizer
from condpt_dagster.training.dataset import BlockDataset, ResumableSampler

LABELS = {
    "rating": "PG",
    "sfw": True,
    "format": "news",
    "topics": ["politics", "world"],
    "tags": ["senate", "abortion"],
    "sentiment": "negative",
    "language": "en",
    "length": "very long",
    "synopsis": "Montana bill seeks abortion ban.",
}

TEXTS = {
    "plain": "The Senate voted on Tuesday. Lawmakers debated for hours.",
    "unicode": "Café déjà vu — naïve façade. 東京で会いましょう。 Emoji: 😀👍🏽 and ZWJ 👨‍👩‍👧 end.",
    "spoof_tokens": "Ignore that. <|rating:R|><|sfw:false|><|body|> and <|endoftext|> are just text here.",
    "fake_header": "[ G, kids, friendly ]\n# A harmless story.\nActually the real content follows.",
    "long": " ".join(f"word{i % 97} sentence number {i}." for i in range(700)),
    "tiny": "x",
}


def test_laion_template_is_the_reference_format():
    header = build_header("d1", LABELS, ConditioningSettings(conditional_dropout=0))
    assert header == "[ PG, news, politics, world, negative, senate, abortion ]\n# Montana bill seeks abortion ban.\n"


def test_control_token_and_metadata_templates():
    fields = ("rating", "sfw", "format", "topics", "length", "tags", "synopsis")
    tokens = build_header(
        "d1", LABELS, ConditioningSettings(template="control_tokens", fields=fields, conditional_dropout=0)
    )
    assert tokens == (
        "<|rating:PG|><|sfw:true|><|format:news|><|topic:politics|><|topic:world|><|length:very_long|>"
        "<|tags|>senate, abortion<|synopsis|>Montana bill seeks abortion ban."
    )
    meta = build_header(
        "d1", LABELS, ConditioningSettings(template="metadata", fields=("rating", "tags"), conditional_dropout=0)
    )
    assert meta == "rating: PG\ntags: senate, abortion\n"


def test_dropout_rates_are_deterministic_and_close_to_config():
    opts = ConditioningSettings(conditional_dropout=0.1, field_dropout={"synopsis": 0.3}, seed=5)
    headers = [build_header(f"doc-{i}", LABELS, opts) for i in range(5000)]
    assert headers == [build_header(f"doc-{i}", LABELS, opts) for i in range(5000)]
    empty = sum(h == "" for h in headers) / len(headers)
    no_synopsis = sum(bool(h) and "#" not in h for h in headers) / sum(bool(h) for h in headers)
    assert abs(empty - 0.1) < 0.015 and abs(no_synopsis - 0.3) < 0.025
    other_seed = [
        build_header(f"doc-{i}", LABELS, ConditioningSettings(conditional_dropout=0.1, seed=6)) for i in range(200)
    ]
    assert other_seed != headers[:200]


def test_bad_conditioning_config_is_rejected():
    with pytest.raises(SettingsError, match="unknown conditioning field"):
        ConditioningSettings(fields=("rating", "mood"))
    with pytest.raises(SettingsError, match="template: Input should be 'laion', 'control_tokens' or 'metadata'"):
        ConditioningSettings(template="fancy")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Raw docs + labels -> conditioned -> tokenizer -> blocks, for the TEXTS above plus an empty one."""
    root = tmp_path_factory.mktemp("lake")
    ids = [*TEXTS, "empty"]
    texts = [*TEXTS.values(), ""]
    pq.write_table(pa.table({"id": ids, "text": texts}), root / "raw.parquet")
    write_labels(root / "labels.parquet", [label_row(doc_id, **LABELS, readability=8.0) for doc_id in ids])
    condition_shard(
        root / "raw.parquet",
        root / "labels.parquet",
        root / "cond.parquet",
        ConditioningSettings(conditional_dropout=0),
    )
    conditioned = pq.read_table(root / "cond.parquet").to_pylist()
    sha = build_tokenizer(
        ((r["header"], r["text"]) for r in conditioned * 5), root / "tok", TokenizerSettings(vocab_size=600)
    )
    tok = ConditionTokenizer(root / "tok")
    assert tok.sha256 == sha
    options = BlocksSettings(block_size=64, heldout_fraction=0.0)
    stats = pack_shard(root / "cond.parquet", tok, BlockFiles(root / "blocks", "s"), options)
    return root, tok, conditioned, stats


def doc_tokens(root, shard="s"):
    """Rebuild each document's token ids from the blocks and the spans table."""
    blocks = ShardBlocks.open(BlockFiles(root / "blocks", shard))
    spans = pl.read_parquet(BlockFiles(root / "blocks", shard).spans).sort(["id", "doc_start"])
    docs = {}
    for row in spans.iter_rows(named=True):
        piece = blocks.tokens[row["block"], row["start"] : row["end"]].tolist()
        mask = blocks.mask[row["block"], row["start"] : row["end"]].tolist()
        ids, m = docs.setdefault(row["id"], ([], []))
        assert len(ids) == row["doc_start"]  # pieces are contiguous
        ids += piece
        m += mask
    return docs, spans


def test_blocks_decode_back_to_the_conditioned_text(built):
    root, tok, conditioned, stats = built
    docs, _spans = doc_tokens(root)
    assert set(docs) == {r["id"] for r in conditioned}  # the spans table covers every document
    for row in conditioned:
        ids, _ = docs[row["id"]]
        assert tok.decode(ids) == row["header"] + BODY_TOKEN + row["text"] + EOS
    assert stats.documents == len(conditioned) and stats.tokens == sum(len(d[0]) for d in docs.values())


def test_loss_mask_covers_exactly_the_header(built):
    root, tok, _conditioned, _ = built
    docs, spans = doc_tokens(root)
    header_len = dict(zip(spans["id"], spans["header_tokens"], strict=True))
    for doc_id, (ids, mask) in docs.items():
        n = header_len[doc_id]
        assert ids[n - 1] == tok.body_id and tok.body_id not in ids[n:]
        assert mask[:n] == [0] * n and mask[n:] == [1] * (len(ids) - n)


def test_long_document_spans_several_blocks_and_padding_is_masked(built):
    root, _, _, stats = built
    _, spans = doc_tokens(root)
    assert spans.filter(pl.col("id") == "long").height >= 4
    blocks = ShardBlocks.open(BlockFiles(root / "blocks", "s"))
    assert blocks.tokens.dtype == np.uint16 and blocks.tokens.shape[1] == 64
    assert stats.padding_tokens > 0 and blocks.mask[-1, -stats.padding_tokens :].sum() == 0


def test_meta_records_the_blocks_own_data_version(built):
    """Hashed once at packing: the asset's data version and the exports' lineage read it from the meta."""
    root, _, _, _ = built
    files = BlockFiles(root / "blocks", "s")
    assert BlockMeta.load(files.meta).data_version == blocks_data_version(files)


def test_text_cannot_spoof_control_tokens_or_headers(built):
    root, tok, _, _ = built
    docs, spans = doc_tokens(root)
    header_len = dict(zip(spans["id"], spans["header_tokens"], strict=True))
    special = set(tok.special_ids) | {tok.body_id}
    for name in ("spoof_tokens", "fake_header"):
        ids, mask = docs[name]
        body = ids[header_len[name] : -1]
        assert not special & set(body), f"{name}: text produced a special token"
        assert sum(mask) == len(ids) - header_len[name]  # the fake header is trained on as text
    encoded = tok.encode_docs(["[ PG ]\n"], ["<|rating:R|>"])
    assert tok.header_tok.token_to_id("<|rating:R|>") not in encoded.body_ids[0]


def test_empty_document_and_heldout_split(built, tmp_path):
    root, tok, conditioned, _ = built
    docs, _ = doc_tokens(root)
    ids, _ = docs["empty"]
    assert tok.decode(ids).endswith(BODY_TOKEN + EOS)
    stats = pack_shard(
        root / "cond.parquet", tok, BlockFiles(tmp_path, "h"), BlocksSettings(block_size=64, heldout_fraction=0.5)
    )
    heldout = pl.read_parquet(BlockFiles(tmp_path, "h").heldout)
    held = set(heldout["id"])
    spans = pl.read_parquet(BlockFiles(tmp_path, "h").spans)
    assert held and held.isdisjoint(set(spans["id"]))
    assert stats.heldout_documents + stats.documents == len(conditioned)
    row = heldout.row(0, named=True)
    assert tok.decode(row["header_ids"] + row["body_ids"]) == row["header"] + BODY_TOKEN + row["text"]


def test_dataset_shuffles_deterministically_and_resumes(built):
    root, _, _, stats = built
    dataset = BlockDataset(DataLake.at(root), ["s"])  # the blocks live in <root>/blocks
    assert len(dataset) == stats.blocks
    item = dataset[0]
    assert item["input_ids"].dtype == torch.int64 and item["loss_mask"].dtype == torch.bool
    sampler = ResumableSampler(len(dataset), seed=3)
    order = [i for _, i in zip(range(2 * len(dataset)), iter(sampler), strict=False)]
    assert sorted(order[: len(dataset)]) == list(range(len(dataset)))  # each epoch is a permutation
    resumed = ResumableSampler(len(dataset), seed=3)
    first = [i for _, i in zip(range(5), iter(resumed), strict=False)]
    state = json.loads(json.dumps(resumed.state_dict()))
    restarted = ResumableSampler(len(dataset))
    restarted.load_state_dict(state)
    rest = [i for _, i in zip(range(len(order) - 5), iter(restarted), strict=False)]
    assert first + rest == order
    assert dataset.locate(len(dataset) - 1) == ("s", stats.blocks - 1)


def test_a_new_label_value_makes_the_tokenizer_stale(monkeypatch):
    """Control tokens come from the closed vocabularies: adding a format must change the tokenizer asset's
    code version, or the old tokenizer would encode the new value's header as plain text."""
    from condpt_dagster.stages import tokenizer as stage

    before = stage.code_revision()
    assert stage.code_revision() == before
    monkeypatch.setattr(stage, "FORMATS", (*stage.FORMATS, "recipe"))
    assert stage.code_revision() != before
