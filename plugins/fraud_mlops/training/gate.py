"""The deployment gate: absolute quality bars, then "no worse than the champion".

Both parts are needed. Absolute bars stop a broken run (empty features, leaked or shuffled
labels gone wrong) from ever serving; the champion comparison stops a model that clears the bars
but is worse than what already serves. The champion is scored on the challenger's own test
split, so the comparison is on identical, unseen rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEPLOY = "deploy"
REJECT = "reject"


@dataclass(frozen=True)
class GateThresholds:
    min_pr_auc: float = 0.5
    min_roc_auc: float = 0.85
    min_recall: float = 0.0
    min_precision: float = 0.0
    # how much PR-AUC the challenger may lose against the champion (0 = must be at least as good)
    champion_tolerance: float = 0.0


@dataclass(frozen=True)
class GateDecision:
    decision: str  # DEPLOY or REJECT
    reason: str
    failed_checks: list[str] = field(default_factory=list)

    @property
    def deploy(self) -> bool:
        return self.decision == DEPLOY


def decide(
    challenger: dict[str, float],
    thresholds: GateThresholds,
    champion: dict[str, float] | None = None,
    champion_version: str = "",
) -> GateDecision:
    """Compare challenger metrics (``pr_auc``, ``roc_auc``, ``recall``, ``precision``) to the bars."""
    failed: list[str] = []
    bars = (
        ("pr_auc", thresholds.min_pr_auc),
        ("roc_auc", thresholds.min_roc_auc),
        ("recall", thresholds.min_recall),
        ("precision", thresholds.min_precision),
    )
    for metric, bar in bars:
        if challenger[metric] < bar:
            failed.append(f"{metric} {challenger[metric]:.4f} < minimum {bar:.4f}")
    if champion is not None:
        floor = champion["pr_auc"] - thresholds.champion_tolerance
        if challenger["pr_auc"] < floor:
            failed.append(
                f"pr_auc {challenger['pr_auc']:.4f} < champion {champion_version or '?'} "
                f"pr_auc {champion['pr_auc']:.4f} on the same test rows"
                + (
                    f" (tolerance {thresholds.champion_tolerance:.4f})"
                    if thresholds.champion_tolerance
                    else ""
                )
            )
    if failed:
        return GateDecision(REJECT, "rejected: " + "; ".join(failed), failed)
    versus = (
        f" and is no worse than champion {champion_version} (pr_auc {champion['pr_auc']:.4f})"
        if champion is not None
        else " (no champion yet)"
    )
    return GateDecision(
        DEPLOY,
        f"accepted: pr_auc {challenger['pr_auc']:.4f}, roc_auc {challenger['roc_auc']:.4f} clear the bars"
        + versus,
    )
