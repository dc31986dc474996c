"""Score a model on held-out data: ranking metrics, an operating threshold, decision metrics.

Operating threshold rule (documented in ``docs/training.md``): on the **validation** split,
take the threshold that maximises F1 (precision and recall weighted equally); on ties, the
highest such threshold (fewer alerts for the same F1). The test split never influences it, so
the test metrics at that threshold are an honest estimate of what serving will see.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

CURVE_POINTS = 200  # curves are thinned to this many points for artifacts and the report


@dataclass(frozen=True)
class Curve:
    x: list[float]
    y: list[float]
    thresholds: list[float]


@dataclass(frozen=True)
class Evaluation:
    """Test-split metrics at the validation-chosen threshold; ``confusion`` is [[tn, fp], [fn, tp]]."""

    roc_auc: float
    pr_auc: float
    precision: float
    recall: float
    f1: float
    threshold: float
    confusion: list[list[int]]
    rows: int
    positives: int
    roc_curve: Curve = field(repr=False)
    pr_curve: Curve = field(repr=False)

    def scalars(self) -> dict[str, float]:
        """The numbers logged as Vertex ``Metrics`` and compared by the gate."""
        return {
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "threshold": self.threshold,
            "test_rows": float(self.rows),
            "test_frauds": float(self.positives),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Max-F1 threshold on the given (validation) data; highest threshold among ties."""
    from sklearn.metrics import precision_recall_curve

    if y_true.sum() == 0:
        raise ValueError("cannot choose a threshold without any positive example")
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = np.flatnonzero(f1 == f1.max())
    return float(thresholds[best].max())


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> Evaluation:
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    if len(np.unique(y_true)) < 2:
        raise ValueError("evaluation data needs both classes")
    predicted = (scores >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, predicted, average="binary", zero_division=0
    )
    fpr, tpr, roc_thresholds = roc_curve(y_true, scores)
    pr_precision, pr_recall, pr_thresholds = precision_recall_curve(y_true, scores)
    return Evaluation(
        roc_auc=float(roc_auc_score(y_true, scores)),
        pr_auc=float(average_precision_score(y_true, scores)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        threshold=float(threshold),
        confusion=confusion_matrix(y_true, predicted, labels=[0, 1]).astype(int).tolist(),
        rows=len(y_true),
        positives=int(y_true.sum()),
        roc_curve=_thin(fpr, tpr, roc_thresholds),
        # recall on x, precision on y; precision_recall_curve's last point has no threshold
        pr_curve=_thin(pr_recall[:-1], pr_precision[:-1], pr_thresholds),
    )


def _thin(x: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> Curve:
    """At most CURVE_POINTS points, always keeping both ends; infinite thresholds become 1e9."""
    if len(x) > CURVE_POINTS:
        index = np.unique(np.linspace(0, len(x) - 1, CURVE_POINTS).round().astype(int))
        x, y, thresholds = x[index], y[index], thresholds[index]
    finite = np.where(np.isfinite(thresholds), thresholds, 1e9)
    return Curve([float(v) for v in x], [float(v) for v in y], [float(v) for v in finite])


def predict_scores(estimator: Any, x: np.ndarray) -> np.ndarray:
    """Fraud probability per row (second column of ``predict_proba``)."""
    from fraud_mlops.training.train import cpu_threads

    with cpu_threads(len(x)):
        return np.asarray(estimator.predict_proba(x))[:, 1]
