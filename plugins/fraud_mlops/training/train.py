"""Fit the fraud model (the artifact it is saved as is :mod:`fraud_mlops.registry.artifact`).

The saved object is a plain scikit-learn estimator (no project classes), so the prebuilt
serving container, the local endpoint and the bench all load it with ``joblib.load`` alone and
call ``predict_proba`` on a float array in ``FEATURE_NAMES`` order with NaN for missing values;
both model types accept NaN natively, so no imputer is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

#: Below this many rows OpenMP threads cost more than they give: on a busy 2-core machine a
#: 5 000-row gradient-boosting fit took 21 s with two spinning OpenMP threads and 2.4 s with one.
SINGLE_THREAD_BELOW_ROWS = 100_000

ModelType = Literal["hist_gradient_boosting", "random_forest"]
MODEL_TYPES: tuple[ModelType, ...] = ("hist_gradient_boosting", "random_forest")


@dataclass(frozen=True)
class TrainedModel:
    estimator: Any
    model_type: ModelType
    fit_seconds: float
    params: dict[str, Any]


def build_estimator(model_type: str, seed: int = 0) -> Any:
    """The default gradient-boosted model, or the random forest the seed projects used.

    Imbalance: the forest uses ``class_weight="balanced_subsample"``; gradient boosting gets the
    same effect from :func:`replicate_positives` (scikit-learn 1.9 computes weighted bin
    thresholds with one sort per bin and feature, which made weighted fits 5-15x slower here).
    Either way the operating threshold is then chosen on validation data (see
    :mod:`fraud_mlops.training.evaluate`), which is what turns scores into decisions.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    if model_type == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            learning_rate=0.08,
            max_iter=300,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            n_iter_no_change=20,
            random_state=seed,
        )
    if model_type == "random_forest":
        return RandomForestClassifier(
            n_estimators=100,
            min_samples_leaf=2,
            class_weight="balanced_subsample",
            n_jobs=-1,
            random_state=seed,
        )
    raise ValueError(f"unknown model_type {model_type!r}; choose one of {MODEL_TYPES}")


def train_model(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    model_type: str = "hist_gradient_boosting",
    seed: int = 0,
) -> TrainedModel:
    """Fit on the training split; gradient boosting stops early on the (temporal) validation split."""
    estimator = build_estimator(model_type, seed)
    started = time.perf_counter()
    with cpu_threads(len(x_train)):
        if model_type == "hist_gradient_boosting":
            x_fit, y_fit = replicate_positives(x_train, y_train)
            estimator.fit(x_fit, y_fit, X_val=x_validation, y_val=y_validation)
        else:
            estimator.fit(x_train, y_train)
    elapsed = time.perf_counter() - started
    return TrainedModel(estimator, model_type, elapsed, _json_params(estimator))  # type: ignore[arg-type]


def cpu_threads(rows: int) -> Any:
    """Context limiting OpenMP/BLAS threads to one for small inputs (see SINGLE_THREAD_BELOW_ROWS)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows < SINGLE_THREAD_BELOW_ROWS else None)


def replicate_positives(x: np.ndarray, y: np.ndarray, max_factor: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each fraud row so frauds weigh like legitimate rows, up to ``max_factor`` times.

    Integer replication equals integer class weights for the loss, without sample weights;
    the cap bounds memory when fraud is very rare (0.2 % would otherwise double the data ×250).
    """
    positives = np.flatnonzero(y == 1)
    if len(positives) == 0:
        return x, y
    factor = int(min(max_factor, max(1, round((len(y) - len(positives)) / len(positives)))))
    if factor == 1:
        return x, y
    extra = np.repeat(positives, factor - 1)
    return np.concatenate([x, x[extra]]), np.concatenate([y, y[extra]])


def _json_params(estimator: Any) -> dict[str, Any]:
    return {k: v for k, v in estimator.get_params().items() if isinstance(v, str | int | float | bool | None)}
