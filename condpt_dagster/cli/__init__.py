"""The ``condpt`` command line: sample data, register shards, run the pipeline, generate, audit.

One module per command group: ``pipeline`` (sample, add-shards, materialize), ``generate``, ``audit``,
``experiment``, ``export``, ``train_node`` (another node of a multi-node run); ``submit`` serves
``materialize --submit``.
"""

from condpt_dagster.cli.audit import audit
from condpt_dagster.cli.common import main
from condpt_dagster.cli.experiment import experiment
from condpt_dagster.cli.export import export
from condpt_dagster.cli.generate import generate
from condpt_dagster.cli.pipeline import add_shards, materialize, sample
from condpt_dagster.cli.train_node import train_node

main.add_command(sample)
main.add_command(add_shards)
main.add_command(materialize)
main.add_command(generate)
main.add_command(audit)
main.add_command(experiment)
main.add_command(export)
main.add_command(train_node)

__all__ = ["main"]

if __name__ == "__main__":
    main()
