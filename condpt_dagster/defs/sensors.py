"""The sensors: new inbox files become partitions and runs, each file exactly once; shards deduplicated before
an earlier-sorting shard arrived are cleaned again, so the corpus does not depend on arrival order."""

import json
import os

import dagster as dg

from condpt_dagster.assets.metadata import ingested_sources
from condpt_dagster.assets.partitions import shards
from condpt_dagster.core.hashing import cached_sha256
from condpt_dagster.core.lake import ShardNameError, split_shard_name
from condpt_dagster.ingest.inbox import inbox_hashes
from condpt_dagster.resources import DataLakeResource
from condpt_dagster.stages.clean_documents import stale_shards


def _running() -> bool:
    # `dagster dev` starts the sensors unless CONDPT_INBOX_SENSOR=stopped (tests that launch runs themselves).
    return os.environ.get("CONDPT_INBOX_SENSOR", "running").lower() != "stopped"


def build_convergence_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="dedup_convergence_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING if _running() else dg.DefaultSensorStatus.STOPPED,
        description="Reruns clean_documents (and what the shard already has after it) of shards that were "
        "deduplicated before a shard that sorts before them arrived, so each document's fate is the one any "
        "arrival order gives. The run key names the missing shards: one rerun per arrival.",
    )
    def dedup_convergence_sensor(context: dg.SensorEvaluationContext, lake: DataLakeResource) -> dg.SensorResult:
        paths, requests = lake.lake, []
        downstream = {  # what a rerun of clean_documents makes stale, in order: rerun where the shard has it
            "document_labels": paths.labels,
            "label_audit": paths.labels,
            "conditioned_examples": paths.conditioned,
            "token_blocks": lambda shard: paths.blocks(shard).meta,
        }
        for shard, missing in stale_shards(paths).items():
            assets = ["clean_documents", *(a for a, output in downstream.items() if output(shard).is_file())]
            context.log.info(f"{shard}: deduplicated without {', '.join(missing)}; rerunning {', '.join(assets)}")
            requests.append(
                dg.RunRequest(
                    partition_key=shard,
                    run_key=f"converge:{shard}:{','.join(missing)}",
                    asset_selection=[dg.AssetKey(a) for a in assets],
                )
            )
        return dg.SensorResult(
            run_requests=requests, skip_reason=None if requests else "every cleaned shard saw every earlier shard"
        )

    return dedup_convergence_sensor


def build_inbox_sensor(job) -> dg.SensorDefinition:
    running = _running()

    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description="Registers new inbox files as `shards` partitions and requests one run per file. "
        "The cursor remembers each file's size and mtime so unchanged files are not re-hashed; the "
        "run key is the file's sha256, so the same content is never ingested twice, and a file whose "
        "content raw_documents already ingested (from `condpt materialize`, a backfill or the UI) gets no run.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, lake: DataLakeResource) -> dg.SensorResult:
        seen: dict[str, list[int]] = json.loads(context.cursor) if context.cursor else {}
        known = set(context.instance.get_dynamic_partitions(shards.name))
        new_keys, requests = [], []
        lake.pull_inbox()  # an object-store lake: the bucket's inbox, mirrored into the local cache
        owner_of = inbox_hashes(lake.lake)
        candidates: list[tuple[str, str]] = []  # (shard, sha256) of new or changed files
        for path in lake.lake.inbox_files():
            stat = path.stat()
            fingerprint = [stat.st_size, stat.st_mtime_ns]
            if seen.get(path.name) == fingerprint:
                continue
            try:
                key, _ = split_shard_name(path)
            except ShardNameError as exc:
                context.log.warning(str(exc))
                continue
            seen[path.name] = fingerprint
            if stat.st_size == 0:
                context.log.warning(f"{path}: empty file, not registered")
                continue
            sha = cached_sha256(path)
            if owner_of[sha] != key:
                context.log.warning(f"{path}: same content as shard {owner_of[sha]!r}, not registered twice")
                continue
            if key not in known:
                new_keys.append(key)
                known.add(key)
            candidates.append((key, sha))
        # `condpt materialize` (or an earlier run of any kind) may have ingested this very content already
        ingested = ingested_sources(context.instance, [key for key, _ in candidates]) if candidates else {}
        for key, sha in candidates:
            if ingested.get(key) == sha:
                context.log.info(f"{key}: this content is already ingested (raw_documents has it); no run")
                continue
            requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}@{sha}"))
        already = len(candidates) - len(requests)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[shards.build_add_request(new_keys)] if new_keys else [],
            cursor=json.dumps(seen, sort_keys=True),
            skip_reason=None
            if requests
            else f"no new or changed inbox files{f' ({already} already ingested)' if already else ''}",
        )

    return inbox_sensor
