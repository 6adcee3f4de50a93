"""Scheduled relabeling: shards whose labels carry an older labeler_version are relabeled, with everything
downstream of their labels. The run key includes the labeler version, so a shard is relabeled once per
version however often the schedule ticks."""

import dagster as dg

from condpt_dagster.assets.partitions import shards
from condpt_dagster.resources import DataLakeResource, LabelerResource
from condpt_dagster.stages.document_labels import stored_labeler_version

RELABEL_ASSETS = ("document_labels", "label_audit", "conditioned_examples", "token_blocks")


def build_relabel_schedule(job, cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="relabel_schedule",
        cron_schedule=cron,
        job=job,
        description="Relabels exactly the shards whose labels were written by another labeler version "
        "(and their downstream assets). The declarative alternative: automation_condition="
        "AutomationCondition.code_version_changed() | AutomationCondition.newly_missing() on document_labels.",
    )
    def relabel_schedule(
        context: dg.ScheduleEvaluationContext, lake: DataLakeResource, labeler: LabelerResource
    ) -> dg.SkipReason | list[dg.RunRequest]:
        current = labeler.version()
        requests = []
        for shard in context.instance.get_dynamic_partitions(shards.name):
            stored = stored_labeler_version(lake.lake.labels(shard))
            if stored is not None and stored != current:
                requests.append(
                    dg.RunRequest(
                        partition_key=shard,
                        run_key=f"relabel:{shard}:{current}",
                        asset_selection=[dg.AssetKey(a) for a in RELABEL_ASSETS],
                        tags={"condpt/relabel_from": stored, "condpt/relabel_to": current},
                    )
                )
        return requests or dg.SkipReason(f"every labeled shard already carries labeler_version {current}")

    return relabel_schedule
