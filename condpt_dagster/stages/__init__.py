"""Strictly one Dagster-free module per asset, named after it; each asset in ``assets/`` calls one function
here. What a stage shares with training or evaluation lives below them (``conditioning/``, ``labelers/``,
``cleaning/``, ``ingest/``, ``audit/``), never in another stage."""
