"""A lean single-row call path for the served model, checked against ``predict_proba``.

scikit-learn's ``predict_proba`` spends ~2 ms per call on input validation and thread set-up
for one row of a gradient-boosted model (docs/serving.md has the measurements), which alone
would cap two cores at a few hundred predictions per second. For the model types training
produces, this module walks the same trees in plain Python (the same comparisons, the same
missing-value directions) and sums the leaves in the same order as scikit-learn, so the
probability is the same number, in about 50 us.

Every compiled predictor is verified on load: it must reproduce ``predict_proba`` on probe
rows (with missing values) to within 1e-12, or the plain ``predict_proba`` call is used
instead. ``Predictor.kind`` says which path serves, and the bench compares both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

TOLERANCE = 1e-12
PROBE_ROWS = 512


class Predictor(Protocol):
    kind: str

    def predict_one(self, row: np.ndarray) -> float:
        """P(fraud) for one row of features in ``FEATURE_NAMES`` order (NaN = missing)."""
        ...


@dataclass
class PlainPredictor:
    """The estimator's own ``predict_proba``: always correct, ~2 ms per row."""

    estimator: Any
    kind: str = "predict_proba"

    def predict_one(self, row: np.ndarray) -> float:
        return float(self.estimator.predict_proba(row.reshape(1, -1))[0, 1])


_Tree = tuple[list[int], list[float], list[int], list[int], list[bool], list[bool], list[float]]


class TreeWalker:
    """Trees as plain Python lists, walked exactly like scikit-learn's compiled loops do.

    For one row, a Python loop over ~60 trees of depth ~10 (about 50 us here) beats both the
    estimator's ``predict_proba`` (milliseconds of per-call set-up) and a NumPy walk of all
    trees level by level (a dozen array operations per level, about 250 us).
    """

    def __init__(
        self,
        feature: list[np.ndarray],
        threshold: list[np.ndarray],
        left: list[np.ndarray],
        right: list[np.ndarray],
        is_leaf: list[np.ndarray],
        missing_left: list[np.ndarray],
        value: list[np.ndarray],
        float32_inputs: bool = False,
    ) -> None:
        self.trees: list[_Tree] = [
            (
                f.astype(np.int64).tolist(),
                t.astype(np.float64).tolist(),
                lf.astype(np.int64).tolist(),
                r.astype(np.int64).tolist(),
                leaf.astype(bool).tolist(),
                ml.astype(bool).tolist(),
                v.astype(np.float64).tolist(),
            )
            for f, t, lf, r, leaf, ml, v in zip(
                feature, threshold, left, right, is_leaf, missing_left, value, strict=True
            )
        ]
        self.float32_inputs = float32_inputs  # scikit-learn's decision trees compare float32 values

    def leaves(self, row: np.ndarray) -> list[float]:
        """Leaf value of every tree for one row, in tree order."""
        values = (row.astype(np.float32) if self.float32_inputs else row).tolist()
        out = []
        for feature, threshold, left, right, is_leaf, missing_left, value in self.trees:
            node = 0
            while not is_leaf[node]:
                x = values[feature[node]]
                if x != x:  # NaN: the direction learned for missing values
                    node = left[node] if missing_left[node] else right[node]
                elif x <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            out.append(value[node])
        return out


@dataclass
class HistGradientBoostingPredictor:
    """Binary ``HistGradientBoostingClassifier`` without categorical features."""

    trees: TreeWalker
    baseline: float
    kind: str = "compiled_hist_gradient_boosting"

    @classmethod
    def from_estimator(cls, estimator: Any) -> HistGradientBoostingPredictor:
        if getattr(estimator, "n_trees_per_iteration_", None) != 1 or len(estimator.classes_) != 2:
            raise ValueError("only binary classifiers are compiled")
        if getattr(estimator, "_preprocessor", None) is not None:
            raise ValueError("categorical features are not compiled")
        nodes = [predictors[0].nodes for predictors in estimator._predictors]
        if any(n["is_categorical"].any() for n in nodes):
            raise ValueError("categorical splits are not compiled")
        trees = TreeWalker(
            feature=[n["feature_idx"] for n in nodes],
            threshold=[n["num_threshold"] for n in nodes],
            left=[n["left"] for n in nodes],
            right=[n["right"] for n in nodes],
            is_leaf=[n["is_leaf"] for n in nodes],
            missing_left=[n["missing_go_to_left"] for n in nodes],
            value=[n["value"] for n in nodes],
        )
        return cls(trees=trees, baseline=float(np.ravel(estimator._baseline_prediction)[0]))

    def predict_one(self, row: np.ndarray) -> float:
        from scipy.special import expit

        # scikit-learn adds tree after tree to the baseline: sum() in the same order gives the
        # same float, not merely a close one.
        raw = sum(self.trees.leaves(row), self.baseline)
        return float(expit(raw))


@dataclass
class RandomForestPredictor:
    """Binary ``RandomForestClassifier``: mean of the trees' class-1 leaf fractions."""

    trees: TreeWalker
    n_trees: int
    kind: str = "compiled_random_forest"

    @classmethod
    def from_estimator(cls, estimator: Any) -> RandomForestPredictor:
        if len(estimator.classes_) != 2:
            raise ValueError("only binary classifiers are compiled")
        tree_objects = [t.tree_ for t in estimator.estimators_]
        fractions = []
        for t in tree_objects:
            counts = t.value[:, 0, :]
            total = counts.sum(axis=1)
            fractions.append(np.divide(counts[:, 1], total, out=np.zeros_like(total), where=total > 0))
        trees = TreeWalker(
            feature=[t.feature for t in tree_objects],
            threshold=[t.threshold for t in tree_objects],
            left=[t.children_left for t in tree_objects],
            right=[t.children_right for t in tree_objects],
            is_leaf=[t.children_left == -1 for t in tree_objects],
            missing_left=[
                t.missing_go_to_left.astype(bool)
                if hasattr(t, "missing_go_to_left")
                else np.zeros(t.node_count, dtype=bool)
                for t in tree_objects
            ],
            value=fractions,
            float32_inputs=True,
        )
        return cls(trees=trees, n_trees=len(tree_objects))

    def predict_one(self, row: np.ndarray) -> float:
        return float(sum(self.trees.leaves(row)) / self.n_trees)


def _probe_rows(n_features: int, reference: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """Rows around the training data's scale (or wide random ones), a fifth of values missing."""
    rng = np.random.default_rng(seed)
    if reference is not None and len(reference):
        base = reference[rng.integers(0, len(reference), PROBE_ROWS)]
        rows = base + rng.normal(0, 1, base.shape) * np.nan_to_num(np.nanstd(reference, axis=0))
    else:
        rows = rng.normal(0, 1, (PROBE_ROWS, n_features)) * rng.choice([0.1, 1, 10, 1000], n_features)
    rows[rng.random(rows.shape) < 0.2] = np.nan
    return rows


def compile_predictor(estimator: Any, reference: np.ndarray | None = None) -> Predictor:
    """The fastest path that reproduces ``estimator.predict_proba``; the plain call otherwise."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    plain = PlainPredictor(estimator)
    candidate: Predictor
    try:
        if isinstance(estimator, HistGradientBoostingClassifier):
            candidate = HistGradientBoostingPredictor.from_estimator(estimator)
        elif isinstance(estimator, RandomForestClassifier):
            candidate = RandomForestPredictor.from_estimator(estimator)
        else:
            return plain
        rows = _probe_rows(int(estimator.n_features_in_), reference)
        expected = estimator.predict_proba(rows)[:, 1]
        got = np.array([candidate.predict_one(row) for row in rows])
        worst = float(np.max(np.abs(got - expected)))
    except Exception as exc:  # any surprise in the estimator's internals: serve the plain call
        log.warning("model not compiled (%s); serving predict_proba", exc)
        return plain
    if not worst <= TOLERANCE:
        log.warning("compiled model differs from predict_proba by %.3g; serving predict_proba", worst)
        return plain
    return candidate
