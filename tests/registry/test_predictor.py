"""The lean model call path reproduces predict_proba, or is not used at all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from fraud_mlops.registry import predictor as predictor_module
from fraud_mlops.registry.predictor import compile_predictor
from tests.serving.helpers import feature_rows, labels


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = feature_rows(2000, seed=21)
    return x, labels(x, seed=21)


def _probe(x: np.ndarray) -> np.ndarray:
    rows = x[:300].copy()
    rows[::7] = np.nan  # whole rows missing
    rows[1::5, :10] = np.nan
    return rows


def test_gradient_boosting_is_compiled_and_bit_identical(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, y)
    fast = compile_predictor(model)
    assert fast.kind == "compiled_hist_gradient_boosting"
    rows = _probe(x)
    expected = model.predict_proba(rows)[:, 1]
    assert [fast.predict_one(r) for r in rows] == expected.tolist()


def test_random_forest_is_compiled_within_1e12(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    model = RandomForestClassifier(n_estimators=15, min_samples_leaf=2, random_state=0, n_jobs=1).fit(x, y)
    fast = compile_predictor(model)
    assert fast.kind == "compiled_random_forest"
    rows = _probe(x)
    got = np.array([fast.predict_one(r) for r in rows])
    assert np.max(np.abs(got - model.predict_proba(rows)[:, 1])) <= 1e-12


def test_other_estimators_use_predict_proba(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    model = LogisticRegression(max_iter=500).fit(np.nan_to_num(x), y)
    plain = compile_predictor(model)
    assert plain.kind == "predict_proba"
    assert plain.predict_one(np.nan_to_num(x[0])) == model.predict_proba(np.nan_to_num(x[:1]))[0, 1]


def test_a_compiled_path_that_disagrees_is_refused(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = data
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    original = predictor_module.TreeWalker.leaves
    monkeypatch.setattr(
        predictor_module.TreeWalker, "leaves", lambda self, row: [v * 1.001 for v in original(self, row)]
    )
    assert compile_predictor(model).kind == "predict_proba"
