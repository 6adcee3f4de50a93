"""One Dagster-free module per asset, named after it; each asset in ``assets/`` calls one function here.

Helper modules that serve a stage carry a name that says what they do (``shard_records``: reading shard
files record by record).
"""
