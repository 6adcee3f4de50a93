import dagster as dg

# One partition per raw shard file; the key is the file name without its extension.
shards = dg.DynamicPartitionsDefinition(name="shards")
