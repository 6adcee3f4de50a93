"""``experiments/<name>/generations.parquet``: every generation the steering experiment judged, with what was
asked and what each judge decided, so users and auditors can re-judge them with judges of their own.

One row per generated text: the arm and snapshot step it came from, the field and value requested (empty for
the unconditional baseline), the header the conditional model was given, the text, the independent panel's
verdict for the requested field, the training labeler's (final snapshot only; else null), and the guidance
scale (1: none; with ``[experiment] guidance`` the final snapshot's requests are generated a second time,
guided). Baseline rows
are repeated per field with the panel's verdict of that field (null for tags: a baseline text is judged per
requested tag, not once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from condpt_dagster.core.io import atomic_output

GENERATIONS_SCHEMA = pa.schema(
    [
        ("arm", pa.string()),  # "conditional", "unconditional" or "cooldown"
        ("step", pa.int64()),  # the snapshot the text was generated at
        ("field", pa.string()),
        ("requested", pa.string()),  # "" for baseline rows
        ("header", pa.string()),  # the header the model was given ("" for baseline rows)
        ("sample", pa.int32()),  # index among the generations of one request
        ("text", pa.string()),
        ("judge", pa.string()),  # the independent panel's verdict for `field`
        ("labeler", pa.string()),  # the training labeler's verdict (final snapshot), else null
        ("guidance", pa.float64()),  # classifier-free guidance scale (1: none)
    ]
)


def request_rows(
    step: int,
    field: str,
    value: str,
    header: str,
    texts: Sequence[str],
    judged: Sequence[str],
    by_labeler: Sequence[str] | None,
    guidance: float = 1.0,
    arm: str = "conditional",
) -> list[dict[str, Any]]:
    return [
        {"arm": arm, "step": step, "field": field, "requested": value, "header": header, "sample": i,
         "text": text, "judge": judged[i], "labeler": by_labeler[i] if by_labeler is not None else None,
         "guidance": guidance}
        for i, text in enumerate(texts)
    ]  # fmt: skip


def baseline_rows(step: int, field: str, texts: Sequence[str], judged: Sequence[str] | None) -> list[dict[str, Any]]:
    return [
        {"arm": "unconditional", "step": step, "field": field, "requested": "", "header": "", "sample": i,
         "text": text, "judge": judged[i] if judged is not None else None, "labeler": None, "guidance": 1.0}
        for i, text in enumerate(texts)
    ]  # fmt: skip


def write_generations(rows: list[dict[str, Any]], path: Path) -> None:
    with atomic_output(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=GENERATIONS_SCHEMA), tmp, compression="zstd")
