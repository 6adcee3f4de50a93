import warnings

import dagster as dg

# One partition per raw shard file; the key is the file name without its extension.
shards = dg.DynamicPartitionsDefinition(name="shards")

# The checks of per-shard assets are partitioned like them (AssetCheckSpec partitions_def), the only way the UI
# shows a check's result per shard; Dagster 1.13 still calls that a preview and would warn once per check at
# every load of the code location.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
