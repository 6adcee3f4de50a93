"""``condpt experiment steer`` / ``show``: run the steering experiment and print its verdict."""

from __future__ import annotations

import click

from condpt_dagster.cli.common import data_option, settings_for
from condpt_dagster.cli.pipeline import materialize_assets
from condpt_dagster.core.lake import DataLake


@click.group()
def experiment() -> None:
    """Controlled experiments over the pipeline's blocks."""


@experiment.command()
@data_option
def steer(data: str | None) -> None:
    """Train the conditional model and its matched unconditional baseline on the current blocks, judge both
    independently ([experiment] settings) and print the verdict; also materializable in the UI as
    steering_experiment."""
    materialize_assets(["steering_experiment"], data=data)
    _print_verdict(data, None)


@experiment.command()
@click.option("--name", help="Experiment name (default: [experiment] name).")
@data_option
def show(name: str | None, data: str | None) -> None:
    """Print the verdict of a finished experiment, one line per field."""
    _print_verdict(data, name)


def _print_verdict(data: str | None, name: str | None) -> None:
    from condpt_dagster.evaluation.cooldown import cooldown_line
    from condpt_dagster.evaluation.efficiency import efficiency_line
    from condpt_dagster.evaluation.experiment_report import headline
    from condpt_dagster.evaluation.steering import verdict_lines
    from condpt_dagster.evaluation.summary import ExperimentSummary

    settings = settings_for(data)
    files = DataLake.at(settings.data_root).experiment(name or settings.experiment.name)
    if not files.summary.is_file():
        raise click.ClickException(f"{files.summary}: no finished experiment; run `condpt experiment steer`")
    summary = ExperimentSummary.load(files.summary)
    gain = summary.gain_vs_shuffled
    cost = summary.loss_cost_vs_unconditional
    click.echo(
        f"Steering experiment {summary.name}: {summary.tokens_trained:,} tokens per arm on {summary.device}, "
        f"{summary.samples_per_value} samples per value, {summary.minutes['total']} min"
        + (f" (reused arms trained earlier: {', '.join(reused)})" if (reused := summary.arms_trained_earlier) else "")
    )
    click.echo(f"  {headline(summary)}")
    for line in verdict_lines(summary):
        click.echo(f"  {line}")
    click.echo(
        f"  gain vs shuffled header {gain['gain']:+.4f} nats/token [{gain['ci_low']:+.4f}, {gain['ci_high']:+.4f}]; "
        f"cost vs unconditional {cost['cost']:+.4f} [{cost['ci_low']:+.4f}, {cost['ci_high']:+.4f}]"
    )
    if summary.data_efficiency:
        click.echo(f"  {efficiency_line(summary.data_efficiency)}")
    if summary.cooldown:
        click.echo(f"  {cooldown_line(summary.cooldown)}")
        click.echo(f"  with cooldown, {efficiency_line(summary.cooldown['data_efficiency'])}")
    click.echo(f"  report: {files.html}")
