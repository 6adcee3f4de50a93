"""``condpt export blocks``: the token blocks in the formats other training engines read."""

from __future__ import annotations

import click

from condpt_dagster.cli.common import data_option, settings_for
from condpt_dagster.cli.pipeline import materialize_assets
from condpt_dagster.core.lake import DataLake
from condpt_dagster.exports import FORMATS


@click.group()
def export() -> None:
    """Hand the corpus to other training engines."""


@export.command()
@click.option(
    "--format",
    "formats",
    type=click.Choice(FORMATS),
    multiple=True,
    help="megatron: Megatron-LM / GPT-NeoX indexed datasets; hf: Hugging Face datasets Arrow files with the "
    "loss mask. Repeatable; default: [export] formats.",
)
@click.option("--shard", "shard_keys", multiple=True, help="Only these shards (repeatable; default: all).")
@data_option
def blocks(formats: tuple[str, ...], shard_keys: tuple[str, ...], data: str | None) -> None:
    """Materialize block_exports (exports/<format>/, with lineage) and print how each engine reads them."""
    from condpt_dagster.core.settings import ExportSettings

    settings = settings_for(data)
    if formats:
        settings = settings.model_copy(update={"export": ExportSettings(formats=tuple(dict.fromkeys(formats)))})
    materialize_assets(["block_exports"], shard_keys, data, settings=settings)
    exports = DataLake.at(settings.data_root).exports
    for fmt in settings.export.formats:
        if fmt == "megatron":
            click.echo(f"megatron: --data-path {exports.megatron('<shard>')}/text_document (one prefix per shard)")
        else:
            click.echo(f'hf: datasets.load_dataset("{exports.hf_dir}", split="train")  (card: {exports.hf_card})')
