"""Training benchmark: model vs random-forest baseline vs the generator's oracle, and pipeline time.

    PYTHONPATH=plugins:. .venv/bin/python bench/bench_training.py [--rows 100000] [--pipeline-rows 300000]

1. Quality. Generates ``--rows`` transactions with the project's generator (which knows each
   transaction's true fraud probability, the *oracle*), runs them through the real ingestion
   SQL on a throwaway DuckDB warehouse (staging → card features → training examples →
   snapshot), splits the snapshot by time like the pipeline, then on the same test rows prints
   PR-AUC and ROC-AUC of the default model (gradient boosting), of the random-forest baseline
   the seed projects used, and of the oracle's own probabilities, with train times.
   Goals: model PR-AUC ≥ 0.90 × oracle PR-AUC, and ≥ the baseline's.
2. Pipeline time. Builds a ``--pipeline-rows`` snapshot (default: the demo's size) the same way
   and runs the compiled pipeline with kfp.local end to end, printing its wall time.

Figures are printed, never asserted; both parts run in this one process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts plugins/ and the repo root on sys.path)
import pandas as pd
from _common import table

from devtools.generator.synth import DEMO_FRAUD_RATE, GeneratorConfig, generate
from fraud_mlops.features import TRANSACTION_ID
from fraud_mlops.pseudonym import ensure_local_keys
from fraud_mlops.settings import Settings, settings_from_env
from fraud_mlops.sql_templates import snapshot_name
from fraud_mlops.training import dataset
from fraud_mlops.training.evaluate import choose_threshold, evaluate, predict_scores
from fraud_mlops.training.train import train_model
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
from tests.sql_chain import FakeDagRun, load_landing, snapshot, transform


def build_snapshot(settings: Settings, rows: int, seed: int) -> tuple[str, pd.DataFrame, float]:
    """Generated batch → the real ingestion SQL → a local snapshot; returns (name, oracle, seconds)."""
    started = time.perf_counter()
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=DEMO_FRAUD_RATE, seed=seed))
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(
        database=str(settings.warehouse_path), snapshot_dir=settings.snapshot_dir
    )
    load_landing(hook, settings, batch.landing, f"bench_{seed}.csv")
    ensure_local_keys(settings.local_dir)
    transform(hook, settings)
    run = FakeDagRun(run_id=f"bench__{seed}_{rows}")
    snapshot(hook, settings, run)
    return snapshot_name(run), batch.oracle, time.perf_counter() - started


def quality(settings: Settings, rows: int, seed: int) -> None:
    name, oracle, build_seconds = build_snapshot(settings, rows, seed)
    frame = dataset.read_snapshot(str(settings.snapshot_dir / f"{name}.parquet"))
    splits = dataset.split_by_time(frame, 0.15, 0.15)
    print(f"{rows:,} generated rows → {len(frame):,} training examples in {build_seconds:.1f} s")
    print(f"time split: {splits.summary()}")
    x_train, y_train = dataset.feature_matrix(splits.train), dataset.labels(splits.train)
    x_val, y_val = dataset.feature_matrix(splits.validation), dataset.labels(splits.validation)
    x_test, y_test = dataset.feature_matrix(splits.test), dataset.labels(splits.test)

    results = []
    for label, model_type in (
        ("model (hist gradient boosting)", "hist_gradient_boosting"),
        ("baseline (random forest)", "random_forest"),
    ):
        trained = train_model(x_train, y_train, x_val, y_val, model_type=model_type)
        threshold = choose_threshold(y_val, predict_scores(trained.estimator, x_val))
        scores = predict_scores(trained.estimator, x_test)
        results.append((label, evaluate(y_test, scores, threshold), trained.fit_seconds))

    test_oracle = splits.test[[TRANSACTION_ID]].merge(oracle, on=TRANSACTION_ID, how="left")
    if test_oracle["oracle_probability"].isna().any():
        raise RuntimeError("some test rows have no oracle probability")
    oracle_scores = test_oracle["oracle_probability"].to_numpy()
    oracle_eval = evaluate(y_test, oracle_scores, 0.5)  # ranking metrics only; no threshold to tune
    oracle_ap = oracle_eval.pr_auc

    rows_out = [
        (
            label,
            f"{e.pr_auc:.4f}",
            f"{e.pr_auc / oracle_ap:.3f}",
            f"{e.roc_auc:.4f}",
            f"{e.f1:.3f}",
            f"{seconds:.1f}",
        )
        for label, e, seconds in results
    ]
    rows_out.append(
        ("oracle (true probabilities)", f"{oracle_ap:.4f}", "1.000", f"{oracle_eval.roc_auc:.4f}", "-", "-")
    )
    test_size = f"{oracle_eval.rows:,} rows, {oracle_eval.positives:,} frauds"
    print(f"\nTest split: {test_size} (the newest 15 % by event time)")
    print(table(rows_out, ("scores", "PR-AUC", "x oracle", "ROC-AUC", "F1", "train s")))
    model, baseline = results[0][1], results[1][1]
    print(
        f"\nmodel PR-AUC / oracle PR-AUC = {model.pr_auc / oracle_ap:.3f} (goal ≥ 0.90); "
        f"model − baseline = {model.pr_auc - baseline.pr_auc:+.4f} (goal ≥ 0); "
        f"train time model / baseline = {results[0][2] / results[1][2]:.2f}"
    )


def pipeline_time(settings: Settings, rows: int, seed: int) -> None:
    from fraud_mlops.pipeline_runs.kfp_local import run_pipeline_locally
    from fraud_mlops.training.pipeline_params import pipeline_parameters

    name, _, build_seconds = build_snapshot(settings, rows, seed)
    print(
        f"\n{rows:,}-row snapshot built in {build_seconds:.1f} s; running the compiled pipeline (kfp.local)…"
    )
    result = run_pipeline_locally(pipeline_parameters(settings, name), settings.local_dir / "pipeline_root")
    print(f"pipeline wall time for {rows:,} rows: {result.wall_seconds:.1f} s")
    print(result.summary())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="generated rows for the quality comparison")
    parser.add_argument(
        "--pipeline-rows", type=int, default=300_000, help="snapshot size for the pipeline run (0 = skip)"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        quality(
            settings_from_env({"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(Path(tmp) / "q")}),
            args.rows,
            args.seed,
        )
        if args.pipeline_rows:
            pipeline_time(
                settings_from_env({"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(Path(tmp) / "p")}),
                args.pipeline_rows,
                args.seed + 1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
