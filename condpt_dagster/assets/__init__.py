"""Thin Dagster assets, one module per asset and named after it; each calls one function of its stage in
``condpt_dagster/stages`` and turns the result into metadata and check results. The vocabulary they share
sits beside them: ``partitions.py`` (the shard partitions), ``pools.py`` (concurrency pools, backfill
policy) and ``metadata.py`` (tables and images for the asset page)."""
