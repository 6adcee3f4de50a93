"""Concurrency pools and the backfill policy the assets declare; a deployment sets the pool limits.

Pools bound how many steps of a kind run at once across all runs (Dagster enforces them per op when the
instance's ``concurrency.pools.granularity`` is ``op``): ``gpu`` for the stages that hold an accelerator
(labeling, training, evaluation, the labeler adapter, the steering experiment), ``io`` for ingestion, which
streams whole shards through the disk or the object store. Limits live in the instance, not in code:
``dagster instance concurrency set gpu 2`` (deploy/README.md); a pool without a limit is unbounded.
"""

import warnings

import dagster as dg

# BackfillPolicy is stable in use but still flagged beta: one warning per asset would drown the CLI's output.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

GPU_POOL = "gpu"
IO_POOL = "io"

# One shard per run: every per-shard asset reports its own data version, metadata and blocking checks, and
# a ranged run would give all shards of the range one MaterializeResult (one data version), so lineage and
# check verdicts would stop being per shard. Run start-up (~5 s) is small beside a real shard's work.
# No policy is Dagster's run per partition, tagged `dagster/partition`; `multi_run(max_partitions_per_run=1)`
# also ran one shard per run, but as a one-partition *range*, in which a partitioned check's evaluation
# carries no partition (the UI showed every backfilled shard's checks as "Skipped").
PER_SHARD_BACKFILL = None
