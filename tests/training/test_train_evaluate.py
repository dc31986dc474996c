"""Training, the threshold rule, metrics and the HTML report on small data."""

from __future__ import annotations

import re

import joblib
import numpy as np
import pandas as pd
import pytest

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.registry.artifact import MODEL_FILE, read_metadata, save_model
from fraud_mlops.training import dataset
from fraud_mlops.training.evaluate import choose_threshold, evaluate, predict_scores
from fraud_mlops.training.report import render_report
from fraud_mlops.training.train import build_estimator, replicate_positives, train_model
from tests.training.examples import make_examples


def _fit(frame: pd.DataFrame, model_type: str = "hist_gradient_boosting"):
    splits = dataset.split_by_time(frame, 0.15, 0.15)
    trained = train_model(
        dataset.feature_matrix(splits.train),
        dataset.labels(splits.train),
        dataset.feature_matrix(splits.validation),
        dataset.labels(splits.validation),
        model_type=model_type,
    )
    return trained, splits


@pytest.mark.parametrize("model_type", ["hist_gradient_boosting", "random_forest"])
def test_models_learn_the_signal_and_beat_shuffled_labels(examples: pd.DataFrame, model_type: str) -> None:
    trained, splits = _fit(examples, model_type)
    scores = predict_scores(trained.estimator, dataset.feature_matrix(splits.test))
    good = evaluate(dataset.labels(splits.test), scores, 0.5)

    shuffled, shuffled_splits = _fit(make_examples(4000, seed=0, shuffle_labels=True), model_type)
    bad_scores = predict_scores(shuffled.estimator, dataset.feature_matrix(shuffled_splits.test))
    bad = evaluate(dataset.labels(shuffled_splits.test), bad_scores, 0.5)

    assert good.roc_auc > 0.95 and good.pr_auc > 0.7, good.scalars()
    assert bad.roc_auc < 0.65 and bad.pr_auc < 0.2, bad.scalars()


def test_saved_model_is_plain_sklearn_taking_feature_order_with_nan(examples: pd.DataFrame, tmp_path) -> None:
    trained, splits = _fit(examples)
    save_model(trained.estimator, tmp_path / "model", {"feature_names": list(FEATURE_NAMES)})

    loaded = joblib.load(tmp_path / "model" / MODEL_FILE)  # what Vertex's sklearn container does
    assert type(loaded).__module__.startswith("sklearn.")
    row = dataset.feature_matrix(splits.test.iloc[:1])
    row[0, FEATURE_NAMES.index("amount_avg_7d")] = np.nan  # a card with no history
    probability = loaded.predict_proba(row)
    assert probability.shape == (1, 2) and 0 <= probability[0, 1] <= 1
    assert read_metadata(tmp_path / "model")["feature_names"] == list(FEATURE_NAMES)


def test_unknown_model_type_is_refused() -> None:
    with pytest.raises(ValueError, match="random_forest"):
        build_estimator("xgboost")


def test_replicating_positives_balances_up_to_the_cap() -> None:
    x = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0] * 8 + [1] * 2)
    x_fit, y_fit = replicate_positives(x, y)
    assert (y_fit == 1).sum() == 8 and (y_fit == 0).sum() == 8  # 4x each fraud row
    assert {tuple(r) for r in x_fit[y_fit == 1]} == {tuple(r) for r in x[y == 1]}
    _, capped = replicate_positives(np.zeros((1001, 1)), np.array([1] + [0] * 1000), max_factor=20)
    assert (capped == 1).sum() == 20


def test_threshold_maximises_f1_and_prefers_the_higher_on_ties() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # >=0.6: P=1, R=.75, F1=.857; >=0.4: P=.8, R=1, F1=.889 (the best)
    assert choose_threshold(y, scores) == pytest.approx(0.4)
    tie_y = np.array([1, 0, 0, 1])
    tie_scores = np.array([0.9, 0.8, 0.7, 0.6])  # >=0.9 (TP1 FN1) and >=0.6 (TP2 FP2) both give F1=2/3
    assert choose_threshold(tie_y, tie_scores) == pytest.approx(0.9)


def test_evaluation_numbers_on_hand_computed_data() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.6, 0.9])
    result = evaluate(y, scores, threshold=0.5)
    assert result.confusion == [[3, 1], [0, 2]]  # [[tn, fp], [fn, tp]]
    assert result.precision == pytest.approx(2 / 3) and result.recall == 1.0
    assert result.f1 == pytest.approx(0.8)
    assert result.roc_auc == pytest.approx(7 / 8)
    assert result.rows == 6 and result.positives == 2
    assert result.roc_curve.x[0] == 0.0 and result.roc_curve.y[-1] == 1.0


def test_report_has_the_three_charts_and_the_numbers(examples: pd.DataFrame) -> None:
    trained, splits = _fit(examples)
    scores = predict_scores(trained.estimator, dataset.feature_matrix(splits.test))
    result = evaluate(dataset.labels(splits.test), scores, 0.5)
    html = render_report(
        result,
        title="t",
        context={"snapshot": "training_snapshot_x"},
        champion={"pr_auc": 0.123456, "roc_auc": 0.5},
    )
    assert len(re.findall(r'<img alt="(roc|pr|confusion)" src="data:image/png;base64,', html)) == 3
    assert f"{result.pr_auc:.4f}" in html and "0.1235" in html and "training_snapshot_x" in html
