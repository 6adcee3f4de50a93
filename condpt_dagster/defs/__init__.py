"""The Dagster layer's glue: the code location's Definitions, partitions, jobs, sensors, schedules and
metadata helpers. Assets live in ``condpt_dagster/assets`` and resources in ``condpt_dagster/resources``
(the names Dagster users look for); nothing outside those three folders and the CLI imports dagster."""
