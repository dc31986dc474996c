"""The deployment gate: absolute bars and the champion comparison."""

from __future__ import annotations

from fraud_mlops.training.gate import DEPLOY, REJECT, GateThresholds, decide

GOOD = {"pr_auc": 0.80, "roc_auc": 0.97, "recall": 0.7, "precision": 0.8}


def test_first_model_clearing_the_bars_deploys() -> None:
    result = decide(GOOD, GateThresholds())
    assert result.decision == DEPLOY and result.deploy
    assert "no champion yet" in result.reason


def test_each_failed_bar_is_named() -> None:
    bars = GateThresholds(min_pr_auc=0.9, min_roc_auc=0.99, min_recall=0.8, min_precision=0.5)
    result = decide(GOOD, bars)
    assert result.decision == REJECT
    assert [c.split()[0] for c in result.failed_checks] == ["pr_auc", "roc_auc", "recall"]
    assert "pr_auc 0.8000 < minimum 0.9000" in result.reason


def test_a_challenger_worse_than_the_champion_is_rejected_even_above_the_bars() -> None:
    result = decide(GOOD, GateThresholds(), champion={"pr_auc": 0.85}, champion_version="3")
    assert result.decision == REJECT
    assert result.reason == "rejected: pr_auc 0.8000 < champion 3 pr_auc 0.8500 on the same test rows"


def test_tolerance_allows_a_small_loss_and_equal_is_not_worse() -> None:
    assert decide(GOOD, GateThresholds(champion_tolerance=0.06), {"pr_auc": 0.85}, "3").deploy
    equal = decide(GOOD, GateThresholds(), {"pr_auc": 0.80}, "3")
    assert equal.deploy and "no worse than champion 3" in equal.reason
