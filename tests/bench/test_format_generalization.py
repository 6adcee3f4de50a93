"""The format-generalization study's measures (bench/studies/format_generalization.py)."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
study = pytest.importorskip("bench.studies.format_generalization")
from condpt_dagster.core.vocab import STEERABLE_FORMATS  # noqa: E402
from condpt_dagster.labelers.format import FormatModel  # noqa: E402
from condpt_dagster.labelers.format_cues import CUES  # noqa: E402

NAMES = list(STEERABLE_FORMATS)


def _spec() -> dict:
    rng = np.random.default_rng(0)
    weights = {f: {c: float(rng.normal(0.5, 1.0)) for c in CUES} for f in ("news", "fiction", "speech")}
    return {"scale": 12.0, "weights": weights}


def test_centering_the_cue_weights_keeps_the_order_among_the_fitted_formats():
    rng = np.random.default_rng(1)
    sims, cues = rng.normal(0.2, 0.05, (50, len(NAMES))), rng.uniform(0, 1, (50, len(CUES)))
    fitted = [NAMES.index(f) for f in ("news", "fiction", "speech")]
    before = FormatModel.from_spec(_spec()).score_matrix(NAMES, sims, cues)[:, fitted]
    after = study.centered(_spec(), 1.0).score_matrix(NAMES, sims, cues)[:, fitted]
    assert (before.argmax(1) == after.argmax(1)).all()
    assert not np.allclose(before, after)  # what moved is the fitted formats against the others


def test_the_added_embedding_logits_say_nothing_about_formats_the_head_never_saw():
    rng = np.random.default_rng(2)
    vectors = rng.normal(0, 1, (60, 8))
    train = {"vectors": vectors, "format": np.array(["news", "fiction", "review"] * 20),
             "source": np.array(["a", "b", "c"] * 20)}  # fmt: skip
    head = study.embedding_head(train, np.arange(60))
    assert sorted(head.formats) == ["fiction", "news", "review"]
    logits = study.added_logits(head, vectors[:5], NAMES)
    seen = [NAMES.index(f) for f in head.formats]
    assert np.allclose(np.delete(logits, seen, axis=1), 0.0)
    assert np.allclose(logits[:, seen].sum(1), 0.0) and np.abs(logits[:, seen]).max() > 0


def test_accuracy_share_and_misses_per_source():
    split = {"format": np.array(["news"] * 4 + ["fiction"] * 2), "source": np.array(["w"] * 4 + ["n"] * 2)}
    predicted = np.array(["news", "speech", "speech", "fiction", "fiction", "fiction"])
    assert study.accuracy(split, predicted) == {"n": 1.0, "w": 0.25}
    assert study.highest_share(split, predicted) == ("fiction", 1.5)  # speech has no true share: not a ratio
    assert study.misses(split, predicted) == {"n": {}, "w": {"speech": 2, "fiction": 1}}


def test_features_recompute_only_the_cues_when_only_the_cue_code_changed(tmp_path, monkeypatch):
    from bench.corpora.devsets import DevDoc
    from condpt_dagster.labelers.format_cues import cue_matrix

    docs = [DevDoc(f"d{i}", "s", text, format="news") for i, text in enumerate(["A: hi\nB: yes\nA: no", "Plain."])]
    monkeypatch.setattr(study, "load_split", lambda cache, split: docs)
    monkeypatch.setattr(study, "CompositeLabeler", lambda: type("Stub", (), {"_format_matrix": np.eye(3, 4)})())
    vectors = np.arange(8.0).reshape(2, 4)
    monkeypatch.setattr(
        study, "format_inputs", lambda labeler, d: (vectors, vectors @ np.eye(3, 4).T, np.zeros((2, 2)))
    )
    monkeypatch.setattr(study, "file_sha256", lambda path: "old code")
    path = tmp_path / "features.npz"
    assert (study.features(tmp_path, path)["test"]["cues"] == 0).all()  # as format_inputs gave them

    def no_encoder(labeler, d):
        raise AssertionError("the embeddings are cached: only the cues are new")

    monkeypatch.setattr(study, "format_inputs", no_encoder)
    monkeypatch.setattr(study, "file_sha256", lambda path: "new code")
    for features in (study.features(tmp_path, path), study.features(tmp_path, path)):  # computed, then read back
        np.testing.assert_array_equal(features["test"]["cues"], cue_matrix([d.text for d in docs]))
        np.testing.assert_array_equal(features["tune"]["vectors"], vectors)
        np.testing.assert_array_equal(features["tune"]["sims"], vectors @ np.eye(3, 4).T)
    assert np.load(path)["meta/cue_code"].item() == "new code"
