"""The Dagster instance condpt runs on: the ``dagster.yaml`` it writes into a new ``$DAGSTER_HOME`` and the
storage probe (``config``), and the run launcher whose workers run monitoring can check (``run_launcher``).
Used by the CLI and named in ``dagster.yaml``; the code location (``defs/``) does not import it."""
