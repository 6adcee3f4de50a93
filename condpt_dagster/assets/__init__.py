"""Thin Dagster assets, one module per asset and named after it; each calls one function of its stage in
``condpt_dagster/stages`` and turns the result into metadata and check results."""
