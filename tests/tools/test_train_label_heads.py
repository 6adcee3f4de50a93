"""The format head's fit (tools/train_label_heads.py): cue weights learned where the similarity is not enough,
and the penalty chosen by cross-validation on the tune split, never by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from condpt_dagster.core.vocab import STEERABLE_FORMATS
from condpt_dagster.labelers.format_cues import CUES

pytest.importorskip("sklearn")
heads = pytest.importorskip("tools.train_label_heads")


def _mail_and_news(n: int = 40, seed: int = 0):
    """Documents whose prototype similarity says news and e-mail about equally; only mail lines tell them apart."""
    rng = np.random.default_rng(seed)
    names = list(STEERABLE_FORMATS)
    sims = rng.normal(0.1, 0.01, size=(2 * n, len(names)))
    sims[:, names.index("news")] += 0.2 + rng.normal(0, 0.02, 2 * n)
    sims[:, names.index("email")] += 0.2 + rng.normal(0, 0.02, 2 * n)
    cues = np.zeros((2 * n, len(CUES)))
    cues[n:, CUES.index("mail_lines")] = 1.0
    docs = [SimpleNamespace(format="news", source="wire")] * n + [SimpleNamespace(format="email", source="list")] * n
    return names, docs, sims, cues


def test_the_fit_learns_the_cue_that_separates_two_formats():
    names, docs, sims, cues = _mail_and_news()
    spec = heads.fit_format(names, docs, sims, cues, l2=0.001)
    assert spec["weights"]["email"]["mail_lines"] > spec["weights"]["news"]["mail_lines"]
    predicted = heads.format_predictions(names, spec, sims, cues)
    assert heads.per_source_accuracy(docs, predicted) > 0.95


def test_the_penalty_is_chosen_by_cross_validation():
    names, docs, sims, cues = _mail_and_news()
    chosen = heads.choose_l2(names, docs, sims, cues)
    scores = {float(k): v for k, v in chosen["cross_validated"].items()}
    assert set(scores) == set(heads.L2_GRID) and chosen["l2"] in heads.L2_GRID
    assert scores[chosen["l2"]] >= max(scores.values()) - heads.L2_TOLERANCE
    stronger = [l2 for l2 in scores if l2 > chosen["l2"]]
    assert all(scores[l2] < max(scores.values()) - heads.L2_TOLERANCE for l2 in stronger)


def test_documents_their_format_gate_refuses_are_left_out_of_the_fit():
    """A licence passage without legal wording can never be labelled `legal` (REQUIRED_CUES): fitted on, it
    drove every other format's logit down and the similarity scale ran away (to 130 on the dev sets)."""
    names, docs, sims, cues = _mail_and_news()
    clean = heads.fit_format(names, docs, sims, cues, l2=0.001)
    refused = [SimpleNamespace(format="email", source="list")] * 10  # e-mail without a single mail line
    with_refused = heads.fit_format(
        names, docs + refused, np.vstack([sims, sims[:10]]), np.vstack([cues, np.zeros((10, len(CUES)))]), l2=0.001
    )
    assert with_refused["scale"] == pytest.approx(clean["scale"], rel=1e-6)
    assert with_refused["weights"] == clean["weights"]
    assert "10 that their format's required cue refuses left out" in with_refused["trained_on"]


def test_a_cue_on_every_document_lifts_the_fitted_formats_unless_the_softmax_leaves_the_others_out():
    """With the softmax over every format, a cue that every dev document has (proper nouns) learns to keep the
    formats without dev data down (bench/studies/format_generalization.py); over the fitted formats only, the
    penalty leaves it at no net lift."""
    names, docs, sims, cues = _mail_and_news()
    sims[:, names.index("opinion")] += 0.25  # an unfitted format about as similar as the two fitted ones
    cues[:, CUES.index("proper_nouns")] = 1.0
    lift = {}
    for only in (False, True):
        spec = heads.fit_format(names, docs, sims, cues, l2=0.001, fitted_formats_only=only)
        lift[only] = np.mean([spec["weights"][f]["proper_nouns"] for f in ("news", "email")])
    assert lift[False] > 1.0
    assert abs(lift[True]) < 0.01
