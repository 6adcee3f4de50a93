"""The bottom layer: lake paths, atomic I/O, hashing, closed vocabularies and typed settings.

Nothing here imports another condpt layer or Dagster; every other layer may import it.
"""
