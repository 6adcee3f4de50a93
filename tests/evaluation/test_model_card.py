"""The exported model's card: written when training finishes, completed by the eval report; its prompt snippet
runs as written, and no label can break out of its Markdown."""

from __future__ import annotations

import json
import re

import pytest
from factories import trained_topic_lake

from condpt_dagster.conditioning.headers import HeaderFormat
from condpt_dagster.core.checkpoint_manifest import CheckpointManifest
from condpt_dagster.core.settings import EvalSettings
from condpt_dagster.evaluation.model_card import model_card
from condpt_dagster.evaluation.verdict import headline
from condpt_dagster.labelers.composite import CompositeLabeler
from condpt_dagster.stages.eval_report import evaluate_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    lake, _ = trained_topic_lake(tmp_path_factory.mktemp("card") / "data")
    return lake


def python_block(card: str) -> str:
    return re.search(r"```python\n(.*?)\n```", card, re.S).group(1)


def test_training_leaves_a_card_whose_snippet_runs_as_written(trained):
    files = trained.checkpoint("ev")
    card = (files.hf_dir / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: text-generation\n")
    assert "Not evaluated yet" in card and "| `a` |" in card and "| `b` |" in card
    topics = next(line for line in card.splitlines() if line.startswith("- topics: "))
    assert "`politics` (" in topics and "`sports` (" in topics  # what the model was trained with
    snippet = python_block(card).replace("<this folder>", str(files.hf_dir))
    scope: dict = {}
    exec(snippet.replace("print(", "result = ("), scope)  # the card's own code, as a user pastes it
    ids = scope["ids"]["input_ids"][0].tolist()
    assert scope["tokenizer"].convert_tokens_to_ids("<|body|>") in ids  # control tokens are single ids
    assert scope["result"].startswith(scope["prompt"].split("<|body|>")[0])


def test_the_eval_report_adds_its_verdict_to_the_card(trained):
    options = EvalSettings(max_docs=8, samples_per_value=1, max_new_tokens=8, attribution_docs=4, synopses=1)
    outcome = evaluate_checkpoint(trained, "ev", CompositeLabeler(), options, progress=lambda _: None)
    card = (trained.checkpoint("ev").hf_dir / "README.md").read_text()
    assert "Not evaluated yet" not in card
    assert headline(outcome.metrics["fields"]) in card and "topics: lift " in card


def hostile_card() -> str:
    manifest = CheckpointManifest(
        run="r`un", tokenizer_sha256="0" * 64, shards=["s|1"], partition_data_versions={"s|1": "v"},
        lineage={"s|1": {"labels_version": "l\n---\nlicense: evil", "blocks_data_version": "b"}},
    )  # fmt: skip
    evil = "```\n---\n<script>alert(1)</script>|"
    header_format = HeaderFormat("laion", ["rating", "tags"], {"rating": {"G": 3}, "tags": {evil: 9, "ok": 1}})
    return model_card(manifest, header_format, None, None)


def test_no_label_breaks_out_of_the_card():
    card = hostile_card()
    assert card.count("\n---\n") == 1 and card.startswith("---\n")  # front matter only: no injected metadata
    assert "license: evil" not in card.split("# r")[0]
    assert "| `s\\|1` | `l --- license: evil` | `b` |" in card
    tags_line = next(line for line in card.splitlines() if line.startswith("- tags:"))
    assert tags_line.startswith("- tags: ```` ``` --- <script>alert(1)</script>| ```` (9)")
    assert json.dumps("[ G ]\n<|body|>") in python_block(card)  # the example header: the top rating, no tags
