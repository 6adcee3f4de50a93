"""Issue 32, point 8: what the UI shows of the definitions reads right — no description loses a word to
Markdown (a bare ``<shard>`` renders as an HTML tag, i.e. nothing), and every column of every asset's column
schema says what it holds."""

from __future__ import annotations

import re

import dagster as dg

from condpt_dagster.assets.clean_documents import CLEAN_COLUMNS
from condpt_dagster.assets.document_labels import LABEL_COLUMNS
from condpt_dagster.assets.raw_documents import RAW_COLUMNS
from condpt_dagster.core.settings import Settings
from condpt_dagster.defs.definitions import build_definitions

_CODE_SPAN = re.compile(r"`[^`]*`")
_TAG_LIKE = re.compile(r"<[A-Za-z/][^>]*>")  # what Markdown passes through as HTML and the browser hides


def _descriptions(defs: dg.Definitions) -> dict[str, str]:
    found = {}
    for asset in defs.assets:
        for spec in asset.specs:
            found[f"asset {spec.key.to_user_string()}"] = spec.description or ""
        for check in asset.check_specs:
            found[f"check {check.name}"] = check.description or ""
    for job in defs.resolve_all_job_defs():
        found[f"job {job.name}"] = job.description or ""
    for sensor in defs.sensors or []:
        found[f"sensor {sensor.name}"] = sensor.description or ""
    for schedule in defs.schedules or []:
        found[f"schedule {schedule.name}"] = schedule.description or ""
    return found


def test_no_description_holds_text_that_markdown_swallows(lake):
    descriptions = _descriptions(build_definitions(Settings(data_root=str(lake.root))))
    assert len(descriptions) > 20
    swallowed = {name: _TAG_LIKE.findall(_CODE_SPAN.sub("", text)) for name, text in descriptions.items()}
    assert {name: tags for name, tags in swallowed.items() if tags} == {}


def test_every_column_of_every_column_schema_is_described():
    for schema in (RAW_COLUMNS, CLEAN_COLUMNS, LABEL_COLUMNS):
        assert schema.columns
        assert [c.name for c in schema.columns if not (c.description or "").strip()] == []
    assert {c.name for c in LABEL_COLUMNS.columns} >= {"tags", "topics", "rating", "format", "scores"}


def test_checks_of_per_shard_assets_are_partitioned_like_their_asset(lake):
    """Issue 32, point 2: a check of a per-shard asset is evaluated per shard, so the UI shows its result per
    partition (not "Not evaluated") and its history does not mix shards into one series."""
    defs = build_definitions(Settings(data_root=str(lake.root)))
    checked = 0
    for asset in defs.assets:
        for check in asset.check_specs:
            assert check.partitions_def == asset.partitions_def, check.key
            checked += asset.partitions_def is not None
    assert checked >= 9  # raw_documents 1, clean_documents 1, document_labels 7
