"""The generative labeler: load / prompt / sample / parse with tiny models made here, and the parser."""

from __future__ import annotations

import pytest
from factories import save_tiny_causal, save_tiny_seq2seq, teach_causal
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from condpt_dagster.labelers import build_labeler
from condpt_dagster.labelers.generative import DEFAULT_PROMPT, parse_label_output, text_windows

DOC = "The cat sat on the mat and purred while the dog slept by the fire."
ANSWER = "[ cats, dogs, pets ]\nrating: PG\n# A quiet evening with a cat and a dog."
CORPUS = [DEFAULT_PROMPT.format(text=DOC) + ANSWER] * 20 + ["Another text about the weather and the news."] * 5


@pytest.fixture(scope="module")
def taught_causal(tmp_path_factory):
    path = save_tiny_causal(tmp_path_factory.mktemp("causal"), CORPUS)
    teach_causal(path, DEFAULT_PROMPT.format(text=DOC), ANSWER)
    return path


def test_causal_model_answer_is_parsed_into_labels(taught_causal):
    labeler = build_labeler("generative", {"model_dir": str(taught_causal), "num_samples": 3, "max_new_tokens": 40})
    [labels] = labeler.label([DOC])
    assert labels.error is None
    assert labels.tags == ["cats", "dogs", "pets"] or set(labels.tags) >= {"cats", "dogs"}
    assert labels.rating == "PG" and labels.sfw
    assert labels.synopsis == "A quiet evening with a cat and a dog."
    assert labels.language == "en"  # from the rule taggers
    assert all(f"tag:{t}" in labels.scores for t in labels.tags)


def test_lora_adapter_is_loaded_and_versioned(taught_causal, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(taught_causal)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["query_key_value"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    base = build_labeler("generative", {"model_dir": str(taught_causal)})
    adapted = build_labeler("generative", {"model_dir": str(taught_causal), "adapter_dir": str(tmp_path / "adapter")})
    assert base.version() != adapted.version()
    [labels] = adapted.label([DOC])  # fresh LoRA (B = 0) keeps the base model's behaviour
    assert labels.rating == "PG"
    assert type(adapted._model).__name__ == "PeftModel"


def test_random_seq2seq_output_is_recorded_not_raised(tmp_path):
    path = save_tiny_seq2seq(tmp_path / "t5", CORPUS)
    labeler = build_labeler("generative", {"model_dir": str(path), "num_samples": 2, "max_new_tokens": 12})
    rows = labeler.label([DOC, "", "Zweiter Text auf Deutsch über das Wetter."])
    assert len(rows) == 3
    for row in rows:
        assert row.rating in {"G", "PG", "PG-13", "R"} and row.synopsis
        if row.error:
            assert "unparseable" in row.error
    assert rows[2].language == "de"


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"):
        build_labeler("generative", {"model_dir": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="needs model_dir"):
        build_labeler("generative", {})


@pytest.mark.parametrize(
    ("output", "tags", "rating", "synopsis"),
    [
        (
            "[ artificial intelligence, open source, ai research ]\n# Why open AI research matters.",
            ["artificial intelligence", "open source", "ai research"],
            None,
            "Why open AI research matters.",
        ),
        (
            "Tags: horror, slasher, gore\nRating: R\nSynopsis: Teens are hunted at a lake camp.",
            ["horror", "slasher", "gore"],
            "R",
            "Teens are hunted at a lake camp.",
        ),
        (
            'Sure! Here are the labels:\n{"tags": ["cooking", "pasta"], "rating": "PG13", "synopsis": "A recipe."}',
            ["cooking", "pasta"],
            "PG-13",
            "A recipe.",
        ),
        (
            "[ \"romance\", 'drama', romance ]\nrated pg-13\n## Two strangers meet on a train.",
            ["romance", "drama"],
            "PG-13",
            "Two strangers meet on a train.",
        ),
        ("keywords: politics; election | senate\ncontent rating: NC-17", ["politics", "election", "senate"], "R", None),
        ("I cannot label this document.", [], None, None),
        ("", [], None, None),
    ],
)
def test_parser_on_realistic_outputs(output, tags, rating, synopsis):
    parsed = parse_label_output(output)
    assert parsed.tags == tags
    assert parsed.rating == rating
    assert parsed.synopsis == synopsis


def test_parser_reads_sfw_and_sentiment():
    parsed = parse_label_output("[ party ]\nrating: R\nNSFW\nsentiment: Negative.")
    assert parsed.sfw is False and parsed.sentiment == "negative"


def test_windows_overlap_and_are_bounded():
    words = [f"w{i}" for i in range(10_000)]
    wins = text_windows(" ".join(words), size=2000, overlap=200, limit=3)
    assert len(wins) == 3
    assert wins[0].split()[0] == "w0" and wins[-1].split()[-1] == "w9999"
    assert all(len(w.split()) <= 2000 for w in wins)
    first, second = text_windows(" ".join(words[:3800]), 2000, 200, 5)
    assert first.split()[-200:] == second.split()[:200]  # overlapping context
