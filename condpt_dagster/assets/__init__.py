"""Thin Dagster assets over the plain stage modules, one module per stage."""
