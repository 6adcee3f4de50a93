"""``condpt generate``: sample from a trained checkpoint with labels written in front of the prompt."""

from __future__ import annotations

from pathlib import Path

import click

from condpt_dagster.cli.common import data_option, lake_for, split_list
from condpt_dagster.core.vocab import RATINGS, STEERABLE_FORMATS, STEERABLE_SENTIMENTS

CHECKPOINT_HELP = (
    "A training run's name (as `condpt audit lineage --checkpoint` takes it: checkpoints/<run> of the lake), "
    "or a checkpoint folder or its hf/ export."
)


@click.command()
@click.option("--checkpoint", required=True, help=CHECKPOINT_HELP)
@click.option("--tags", help="Comma-separated tags.")
@click.option("--topics", help="Comma-separated taxonomy topics.")
@click.option("--rating", type=click.Choice(RATINGS))
@click.option("--sfw/--nsfw", default=None)
@click.option("--sentiment", type=click.Choice(STEERABLE_SENTIMENTS))
@click.option("--format", "doc_format", type=click.Choice(STEERABLE_FORMATS), help="Document format (genre).")
@click.option("--synopsis", help="One-line synopsis.")
@click.option("--samples", default=1, show_default=True)
@click.option("--max-new-tokens", default=120, show_default=True)
@click.option("--temperature", default=0.8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--guidance",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Classifier-free guidance: >1 pushes the text away from what the model writes without the header.",
)
@click.option("--allow-unseen", is_flag=True, help="Accept label values the model never saw in training.")
@data_option
@click.argument("prompt", default="")
def generate(
    checkpoint: str,
    tags,
    topics,
    rating,
    sfw,
    sentiment,
    doc_format,
    synopsis,
    samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    guidance: float,
    allow_unseen: bool,
    data: str | None,
    prompt: str,
) -> None:
    """Sample text steered by labels: the header is built with the template the model was trained with."""
    asked = {"tags": split_list(tags), "topics": split_list(topics), "rating": rating, "sfw": sfw}
    asked |= {"sentiment": sentiment, "format": doc_format, "synopsis": synopsis}
    labels = {k: v for k, v in asked.items() if v is not None}
    generator = _generator(checkpoint, data, labels, allow_unseen)
    sampling = {"guidance": guidance, "max_new_tokens": max_new_tokens, "temperature": temperature}
    for i in range(samples):
        ids = generator.generate(labels or None, prompt, seed=seed + i, **sampling)
        click.echo(f"--- sample {i + 1}\n{prompt}{generator.text(ids)}")


def _generator(checkpoint: str, data: str | None, labels: dict, allow_unseen: bool):
    """The checkpoint's generator, once the labels are known to be askable of it; prints the header."""
    from condpt_dagster.training.generate import ConditionalGenerator, UnseenValueError, check_seen

    try:
        generator = ConditionalGenerator(checkpoint_folder(checkpoint, data))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if not allow_unseen:
            check_seen(labels, generator.seen_values)
        header = generator.header(labels) if labels else ""
    except UnseenValueError as exc:
        raise click.ClickException(f"{exc}; pass --allow-unseen to generate anyway") from exc
    except ValueError as exc:  # a closed value that cannot be a control token
        raise click.ClickException(str(exc)) from exc
    click.echo(f"--- header ({generator.header_format.template}):\n{header or '(none)'}", err=True)
    return generator


def checkpoint_folder(checkpoint: str, data: str | None) -> Path:
    """A path that exists, else the lake's training run of that name; an error naming the known runs."""
    path = Path(checkpoint).expanduser()
    if path.exists():
        return path
    lake = lake_for(data)
    runs = sorted(p.parent.name for p in lake.checkpoint_manifests())
    if checkpoint in runs:  # a plain name only: never a path that leaves checkpoints/
        return lake.checkpoint(checkpoint).folder
    raise click.ClickException(
        f"--checkpoint {checkpoint}: neither a folder nor a training run of {lake.root}; "
        f"runs: {', '.join(runs) or 'none (materialize checkpoint first)'}"
    )
