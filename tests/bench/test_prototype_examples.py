"""The prototype-examples study (bench/studies/prototype_examples.py) and the feature cache it shares with
format_generalization: which variants it tries, how it chooses, and that cached similarities follow the taxonomy."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")
study = pytest.importorskip("bench.studies.prototype_examples")
generalization = pytest.importorskip("bench.studies.format_generalization")
from condpt_dagster.labelers.format_cues import CUES  # noqa: E402


def test_variants_drop_only_examples_never_the_description_and_add_each_candidate_alone():
    examples = ["review: a verdict", "one", "two", "three"]
    tried = study.variants(examples, last=9, candidates=["new a", "new b"])
    assert tried["as is"] == examples
    assert tried["without the last 1"] == examples[:3] and tried["without the last 3"] == examples[:1]
    assert "without the last 4" not in tried  # the description stays
    assert tried["with 'new a'"] == [*examples, "new a"] and "new a" not in tried["with 'new b'"]


def _fitted(mean: float, moby: float | None = None) -> dict[str, float]:
    """Accuracy per fitted source: two at ``mean``, or Moby-Dick at ``moby`` and the other making up the mean."""
    return {"moby": mean, "wiki": mean} if moby is None else {"moby": moby, "wiki": 2 * mean - moby}


def test_the_choice_takes_the_best_never_fitted_mean_within_tolerance_of_the_best_fitted_mean():
    results = {"as is": (_fitted(0.917), 0.705), "fewer": (_fitted(0.920), 0.690), "greedy": (_fitted(0.905), 0.750)}
    assert study.chosen(results) == "as is"  # greedy costs the fitted sources 0.015
    assert study.chosen(results, tolerance=0.02) == "greedy"


def test_a_variant_that_costs_one_fitted_source_too_much_is_not_chosen_whatever_the_mean():
    # Moby-Dick 0.93 -> 0.89 hidden in a mean that moved 0.002 (issue 30 format part 13)
    results = {"as is": (_fitted(0.916, moby=0.93), 0.796), "memoir": (_fitted(0.914, moby=0.89), 0.814)}
    assert study.chosen(results) == "as is"
    assert study.chosen(results, max_drop=0.05) == "memoir"
    results["garden"] = (_fitted(0.913, moby=0.93), 0.806)
    assert study.chosen(results) == "garden"
    results["exactly the limit"] = (_fitted(0.914, moby=0.90), 0.810)  # 0.93 - 0.90 is 0.030000000000000027
    assert study.chosen(results) == "exactly the limit"


def test_with_no_variant_eligible_the_taxonomy_stays_as_it_is():
    results = {"as is": (_fitted(0.90), 0.70), "better mean, one source lost": (_fitted(0.95, moby=0.80), 0.80)}
    assert study.chosen(results) == "as is"  # "as is" is outside the tolerance, the other loses Moby-Dick


class _Encoder:
    def encode(self, texts):
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float64)


def _labeler(matrix: np.ndarray) -> SimpleNamespace:
    taxonomy = SimpleNamespace(formats={"news": ["n"], "review": ["r"], "fiction": ["f"]})
    return SimpleNamespace(_format_matrix=matrix, taxonomy=taxonomy, encoder=_Encoder())


def test_new_examples_move_only_their_formats_prototype():
    matrix = np.eye(3)
    moved = study.prototypes(_labeler(matrix), "review", ["abc", "abcde"])
    assert np.allclose(np.delete(moved, 1, axis=0), np.delete(matrix, 1, axis=0))
    assert np.allclose(moved[1], np.array([4.0, 1.0, 0.0]) / np.linalg.norm([4.0, 1.0, 0.0]))
    assert np.allclose(matrix, np.eye(3))  # the labeler's own prototypes untouched


def test_cached_features_take_similarities_anew_and_only_the_cues_when_the_cue_code_changes(tmp_path, monkeypatch):
    docs = {
        s: [SimpleNamespace(id=f"{s}{i}", format="news", source="a", text="A: hi\nA: yes") for i in range(3)]
        for s in ("tune", "test")
    }
    calls = []

    def fake_inputs(labeler, split_docs):
        calls.append(len(split_docs))
        vectors = np.arange(len(split_docs) * 3, dtype=np.float64).reshape(-1, 3)
        return vectors, vectors @ labeler._format_matrix.T, np.zeros((len(split_docs), 2))

    labeler = _labeler(np.eye(3))
    monkeypatch.setattr(generalization, "load_split", lambda cache, split: docs[split])
    monkeypatch.setattr(generalization, "format_inputs", fake_inputs)
    monkeypatch.setattr(generalization, "CompositeLabeler", lambda: labeler)
    path = tmp_path / "features.npz"
    generalization.features(tmp_path, path)
    assert calls == [3, 3]
    labeler._format_matrix = 2 * np.eye(3)  # a prototype edited in the taxonomy
    again = generalization.features(tmp_path, path)
    assert calls == [3, 3]  # read back, not computed
    assert np.allclose(again["tune"]["sims"], 2 * again["tune"]["vectors"])
    monkeypatch.setattr(generalization, "file_sha256", lambda path: "other cue code")
    recomputed = generalization.features(tmp_path, path)
    assert calls == [3, 3]  # the embeddings are kept (test_format_generalization.py checks the cues' values)
    assert recomputed["test"]["cues"].shape == (3, len(CUES)) and recomputed["test"]["cues"].any()
