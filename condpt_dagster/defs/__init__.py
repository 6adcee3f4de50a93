"""The code location: ``definitions.py`` assembles the assets (``condpt_dagster/assets``), resources
(``condpt_dagster/resources``), jobs, sensors and the schedule. The vocabulary the assets share (partitions,
pools, metadata helpers) lives beside them in ``assets/``; the Dagster instance's files in ``instance/``."""
