"""Classifier-free guidance at sampling: transformers' processor against the header-less context, checked
against the formula computed by hand, batched, and refused when meaningless."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from factories import CONDITIONING, make_lake, tiny_condpt_export

from condpt_dagster.cli import main as cli
from condpt_dagster.training.generate import ConditionalGenerator

LABELS = {"rating": "G", "topics": ["sports"]}


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    lake = make_lake(tmp_path_factory.mktemp("guidance") / "data", n_docs=20)
    run = tiny_condpt_export(lake.checkpoints_dir / "g", lake.tokenizer_dir, CONDITIONING.to_json())
    return ConditionalGenerator(run)


def by_hand(generator: ConditionalGenerator, scale: float, steps: int) -> list[int]:
    """Greedy decoding of log p_u + scale * (log p_c - log p_u), every step a full forward pass of each context."""
    cond, uncond = generator.prompt_ids(LABELS, "team"), generator.prompt_ids(None, "team")
    suppressed = list(generator.generation_config.suppress_tokens)
    new: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            log_c, log_u = (
                torch.log_softmax(generator.model(torch.tensor([ids + new])).logits[0, -1], -1)
                for ids in (cond, uncond)
            )
            scores = log_u + scale * (log_c - log_u)
            scores[suppressed] = -float("inf")
            new.append(int(scores.argmax()))
    return new


def test_guided_greedy_decoding_follows_the_formula(generator):
    greedy = {"do_sample": False, "max_new_tokens": 8, "min_new_tokens": 8}
    guided = generator.generate(LABELS, "team", guidance=30.0, **greedy)  # large: a random model barely differs
    assert guided == by_hand(generator, 30.0, 8)
    assert guided != generator.generate(LABELS, "team", **greedy)  # it changes what is written
    assert generator.generate(LABELS, "team", guidance=1.0, **greedy) == generator.generate(LABELS, "team", **greedy)


def test_guided_sampling_works_in_batches_and_is_seeded(generator):
    settings = {"seed": 3, "batch_size": 2, "guidance": 2.0, "max_new_tokens": 6}
    first = generator.sample(LABELS, 5, **settings)
    assert len(first) == 5 and first == generator.sample(LABELS, 5, **settings)
    unguided = generator.sample(LABELS, 5, seed=3, batch_size=2, max_new_tokens=6)
    assert first != unguided
    # without labels there is nothing to guide towards: the same as unguided
    assert generator.sample(None, 2, seed=1, guidance=2.0, max_new_tokens=6) == generator.sample(
        None, 2, seed=1, max_new_tokens=6
    )


def test_a_guidance_that_is_not_positive_is_refused(generator):
    with pytest.raises(ValueError, match=r"guidance -1\.0 must be positive"):
        generator.generate(LABELS, "team", guidance=-1.0)
    out = CliRunner().invoke(cli, ["generate", "--checkpoint", str(generator.hf_dir), "--guidance", "0", "team"])
    assert out.exit_code == 2 and "--guidance" in out.output
