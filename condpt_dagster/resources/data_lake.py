import dagster as dg
from pydantic import Field

from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.object_store import LakeMirror

# What a one-shard step never reads: models, reports and experiments are pulled only by the steps that
# consume them (unpartitioned runs), so a labeling worker does not download checkpoints.
SHARD_STEP_SKIPS = ("checkpoints", "experiments", "eval", "labeler_adapter", "tagged")
_PARTITION_TAGS = ("dagster/partition", "dagster/asset_partition_range_start")


class DataLakeResource(dg.ConfigurableResource):
    """Where the data lake lives; every asset reads and writes below ``root``.

    With ``remote_root`` (``[lake] root = "s3://…"``), ``root`` is the local working copy: each step starts
    by pulling what changed in the bucket and ends by pushing what it wrote (core/object_store.py)."""

    root: str = Field(description="Data lake root folder (absolute, or relative to the working directory).")
    remote_root: str | None = Field(None, description="Object-store URL the local root mirrors, if any.")

    @property
    def lake(self) -> DataLake:
        return DataLake.at(self.root)

    def require_inputs(self, asset: str, shard: str) -> None:
        """Fail the step with one line naming each missing upstream file and its command (not a traceback)."""
        missing = self.lake.missing_inputs(asset, shard)
        if missing:
            raise dg.Failure(description="; ".join(missing), allow_retries=False)

    @property
    def mirror(self) -> LakeMirror | None:
        return LakeMirror(self.remote_root, self.lake.root) if self.remote_root else None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        mirror, run = self.mirror, context.run
        if mirror is None or run is None:  # sensors pull only what they read (pull_inbox)
            return
        one_shard = any(tag in run.tags for tag in _PARTITION_TAGS)
        counts = mirror.pull(skip_dirs=SHARD_STEP_SKIPS if one_shard else ())
        if context.log:
            context.log.info(f"lake cache {self.root} <- {self.remote_root}: {counts}")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        mirror = self.mirror
        if mirror is None or context.run is None:
            return
        counts = mirror.push()
        if context.log:
            context.log.info(f"lake cache {self.root} -> {self.remote_root}: {counts}")

    def pull_inbox(self) -> None:
        """Bring the bucket's inbox into the cache (the inbox sensor lists and hashes it there)."""
        if self.mirror is not None:
            self.mirror.pull(only_dirs=("inbox",))
