"""What bounds and explains a steering verdict, beside the lift itself.

- :func:`corpus_reference`: the lift of the held-out documents themselves under the same judge (their first
  tokens, judged like a generation, grouped by their labels): what a model that reproduced the corpus exactly
  would score, so how far the judge can see a field at all;
- :func:`flip_costs`: judge-free, how much worse held-out bodies read when the header names another value of
  a field: whether the model reads that field at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from condpt_dagster.conditioning.heldout import HeldOut
from condpt_dagster.conditioning.tokenizer import ConditionTokenizer
from condpt_dagster.core.lake import DataLake
from condpt_dagster.core.settings import ExperimentSettings
from condpt_dagster.evaluation.metrics import conditioning_gain, lift_with_ci
from condpt_dagster.evaluation.requests import carries, request_labels
from condpt_dagster.evaluation.run import body_nll

if TYPE_CHECKING:
    from condpt_dagster.evaluation.judges import Judges
    from condpt_dagster.evaluation.requests import Requests
    from condpt_dagster.training.generate import ConditionalGenerator


MIN_TAG_VISIBILITY = 0.1  # share of a tag's own held-out openings in which the keyword judge must find it


def visible_tags(requests: Requests, texts: Sequence[str], labels: Sequence[dict[str, Any]], judges: Judges,
                 limit: int) -> tuple[Requests, list[str]]:  # fmt: skip
    """``requests`` with the tags the keyword judge can see, at most ``limit``, and the ones it cannot: a tag is
    kept when the judge finds it in at least ``MIN_TAG_VISIBILITY`` of the held-out openings labelled with it
    (a mood or genre word the labeler adds but no text writes would score 0 against 0 however well the model
    steered)."""
    from condpt_dagster.evaluation.requests import Requests

    asked = requests.values.get("tags", [])
    visible, hidden = [], []
    for tag in asked:  # most frequent first, until ``limit`` are visible
        own = [text for text, row in zip(texts, labels, strict=True) if carries(row, "tags", tag)]
        seen = sum(verdict == tag for verdict in judges.tags.judge(tag, own))
        (visible if own and seen / len(own) >= MIN_TAG_VISIBILITY else hidden).append(tag)
        if len(visible) == limit:
            break
    values = {k: v for k, v in requests.values.items() if k != "tags"} | ({"tags": visible} if visible else {})
    not_steerable = dict(requests.not_steerable)
    if asked and not visible:
        not_steerable["tags"] = f"the keyword judge finds none of the frequent tags in their own documents: {hidden}"
    return Requests(values, not_steerable), hidden


def corpus_reference(
    texts: Sequence[str],
    labels: Sequence[dict[str, Any]],
    requests: Requests,
    judges: Judges,
    options: ExperimentSettings,
) -> dict[str, dict[str, Any]]:
    """Each field's lift on held-out documents themselves: ``texts`` (their first ``max_new_tokens`` body
    tokens, judged like a generation) of the documents labelled v against all of them. What a model that
    reproduced the corpus exactly would score, so the judge's agreement with the labels bounds what the
    experiment can show: a field whose reference interval includes 1 cannot be judged by this judge."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in requests.values.items():
        judged = judges.hits(name, texts, values)
        hits = {v: [hit for hit, row in zip(judged[v], labels, strict=True) if carries(row, name, v)] for v in values}
        present = [v for v in values if hits[v]]  # a value no held-out document carries has no reference
        if not present:
            out[name] = {"docs": len(texts), "values": []}
            continue
        result = lift_with_ci({v: hits[v] for v in present}, {v: judged[v] for v in present},
                              options.bootstrap_reps, options.seed)  # fmt: skip
        for row in result["values"]:
            row["documents"] = row.pop("samples")
        keys = ("lift", "ci_low", "ci_high", "adherence", "baseline_rate", "values")
        out[name] = {"docs": len(texts), **{k: result[k] for k in keys}}
    return out


def heldout_openings(lake: DataLake, heldout: HeldOut, options: ExperimentSettings) -> list[str]:
    """The first ``max_new_tokens`` body tokens of every held-out document as text: what a generation is."""
    decode = ConditionTokenizer(lake.tokenizer_dir).header_tok.decode
    return [decode(ids[: options.max_new_tokens], skip_special_tokens=True) for ids in heldout.body_ids]


def _swap(labels: dict[str, Any], name: str, value: str, other: str) -> dict[str, Any]:
    """``labels`` with ``value`` of field ``name`` replaced by ``other`` (in place within a list field)."""
    current = labels[name]
    if isinstance(current, list):
        return {**labels, name: [other if v == value else v for v in current if v != other]}
    return {**labels, name: other}


def flip_costs(
    cond: ConditionalGenerator,
    heldout: HeldOut,
    requests: Requests,
    options: ExperimentSettings,
    given_others: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per field, judge-free: how much worse the held-out bodies read (nats/token) when the header names
    another requested value of the field instead of the document's own. Headers hold that field alone, as a
    steering request does; with ``given_others`` they hold every conditioning field from the document's
    labels, so the cost is what the field adds beyond the others (a field that only stands in for a
    correlated one, sentiment for the source, costs nothing then). Above 0 with its interval: the model reads
    the field; around 0: it ignores it."""
    fields = cond.header_format.fields
    n = min(options.heldout_docs, len(heldout.ids))
    chosen = np.random.default_rng(options.seed).permutation(len(heldout.ids))[:n]
    out: dict[str, dict[str, Any]] = {}
    for name, values in requests.values.items():
        true, flipped, bodies = [], [], []
        for i in chosen:
            row = heldout.labels[i]
            value = next((v for v in values if carries(row, name, v)), None)
            if value is None:
                continue
            k = values.index(value)
            other = next((w for w in values[k + 1 :] + values[:k] if not carries(row, name, w)), None)
            if other is None:
                continue
            labels = {f: row.get(f) for f in fields} if given_others else request_labels(name, value)
            true.append(cond.prompt_ids(labels, ""))
            flipped.append(cond.prompt_ids(_swap(labels, name, value, other), ""))
            bodies.append(heldout.body_ids[i][: options.max_body_tokens])
        if len(bodies) < 2:
            out[name] = {"docs": len(bodies)}
            continue
        nll = {
            key: [s / max(c, 1) for s, c in body_nll(cond.model, prefixes, bodies, cond.tokenizer.pad_id)]
            for key, prefixes in (("true", true), ("flipped", flipped))
        }
        gain = conditioning_gain(nll["true"], nll["flipped"], options.bootstrap_reps)
        out[name] = {"cost": gain["gain"], "ci_low": gain["ci_low"], "ci_high": gain["ci_high"], "docs": gain["docs"]}
    return out
