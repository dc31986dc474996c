"""The scheduled canary step: evidence from the prediction log → :func:`.canary.decide` → the registry.

* PROMOTE: the canary takes 100 % of the endpoint and the ``champion`` alias; the old champion
  keeps a ``previous-champion`` alias, so undoing a promotion is one call
  (:func:`revert_to_previous_champion`).
* ROLLBACK: the canary goes to 0 % (undeployed) and loses its ``challenger`` alias; the champion
  keeps serving 100 %; the monitoring task raises a ``canary_rollback`` alert with the reasons.
* HOLD: nothing changes.

A promotion or a rollback first marks the canary (``canary-promoting``, ``canary-rolling-back``)
and removes the mark once done. A try cut short in between (a worker lost while Vertex undeploys)
is finished by the next try or run (:func:`begun_decision`), not decided again: after a rollback
the canary no longer answers, and the evidence read again without it could promote it.

Everything goes through the registry/endpoint seam (``registry/backends.py``: local files or
Vertex GAPIC requests), so the same code runs on both targets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from fraud_mlops.monitoring.canary import (
    DEFAULT_POLICY,
    CanaryPolicy,
    Decision,
    ModelStats,
    Verdict,
    Window,
    decide,
)
from fraud_mlops.registry.base import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    PROMOTING,
    ROLLING_BACK,
    VERDICT_MARKS,
    ModelEndpoint,
    ModelRegistry,
    ModelVersion,
    hand_over_champion,
)
from fraud_mlops.sql_templates import EARLIEST_INSTANT, sql_instant
from fraud_mlops.warehouse.base import timestamp_utc

_VERSION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Evidence:
    canary: ModelStats
    champion: ModelStats
    window: Window


def evidence_from_rows(
    rows: list[tuple[Any, ...]],
    champion: str,
    canary: str,
    now: datetime | None = None,
    canary_traffic_percent: int = 0,
) -> Evidence:
    """Rows of ``include/sql/86_canary_window.sql`` (and the canary's share of the endpoint's
    traffic, from the endpoint) → the inputs of :func:`decide`."""
    now = now or datetime.now(UTC)
    stats = {
        str(r[0]): ModelStats(str(r[0]), int(r[1]), int(r[2]), float(r[3] or 0.0), int(r[4]))
        for r in rows
        if r[0] is not None  # the endpoint's counts alone: no version answered
    }
    first = [r[5] for r in rows if r[0] is not None and str(r[0]) == canary and r[5] is not None]
    elapsed = (now - timestamp_utc(first[0])).total_seconds() if first else 0.0
    pairs = rows[0] if rows else None
    window = Window(
        elapsed_seconds=max(elapsed, 0.0),
        shadow_pairs=int(pairs[7] or 0) if pairs else 0,
        shadow_mean_abs_diff=float(pairs[8] or 0.0) if pairs else 0.0,
        shadow_decision_disagreement=float(pairs[9] or 0.0) if pairs else 0.0,
        endpoint_requests=int(pairs[10] or 0) if pairs else 0,
        unattributed_failures=int(pairs[11] or 0) if pairs else 0,
        before_requests=int(pairs[12] or 0) if pairs else 0,
        before_failures=int(pairs[13] or 0) if pairs else 0,
        canary_calls=int(pairs[14] or 0) if pairs else 0,
        canary_traffic_percent=canary_traffic_percent,
    )
    return Evidence(
        canary=stats.get(canary, ModelStats(canary, 0)),
        champion=stats.get(champion, ModelStats(champion, 0)),
        window=window,
    )


#: The evidence reads from this long before the canary's deployment: the endpoint's clock
#: (Vertex's create_time) and the function's (logged_at) are different machines'.
DEPLOYMENT_MARGIN = timedelta(hours=1)
#: Failures naming no model are compared with this long before the canary's deployment
FAILURE_BASELINE = timedelta(hours=24)
#: A canary that never answered owes its traffic share of the calls from this long after its
#: deployment began (DeployedModel.create_time): a deploy takes minutes, and its traffic split
#: applies only once it is done, so the calls before are all the champion's.
DEPLOY_ALLOWANCE = timedelta(hours=1)


class CanarySqlValues(TypedDict):
    """86_canary_window.sql's values, by name (a mapping render_sql takes as keywords)."""

    champion: str
    canary: str
    since: str
    deployed_at: str
    baseline_from: str
    silent_from: str
    deployment_known: str


def canary_sql_values(champion: str, canary: str, deployed_since: datetime | None = None) -> CanarySqlValues:
    """86_canary_window.sql's values: the versions go into its text, so only registry version
    ids (checked), never free text; ``since``, from the canary's deployment (the endpoint's
    ``deployed_since``) less :data:`DEPLOYMENT_MARGIN`, or the earliest instant when unknown
    (``deployment_known`` then FALSE: no failure is counted against the canary from the start);
    ``deployed_at`` and ``baseline_from`` bound the model calls since the deployment and the
    :data:`FAILURE_BASELINE` before it."""
    for value in (champion, canary):
        if not _VERSION.match(value):
            raise ValueError(f"not a model version id: {value!r}")
    if deployed_since is None:
        since = deployed_at = baseline_from = silent_from = EARLIEST_INSTANT
    else:
        since = sql_instant(deployed_since - DEPLOYMENT_MARGIN)
        deployed_at = sql_instant(deployed_since)
        baseline_from = sql_instant(deployed_since - FAILURE_BASELINE)
        silent_from = sql_instant(deployed_since + DEPLOY_ALLOWANCE)
    return CanarySqlValues(
        champion=champion,
        canary=canary,
        since=since,
        deployed_at=deployed_at,
        baseline_from=baseline_from,
        silent_from=silent_from,
        deployment_known="FALSE" if deployed_since is None else "TRUE",
    )


def policy_from(overrides: dict[str, Any] | None, *, shadow_pairs_logged: bool = True) -> CanaryPolicy:
    """The default policy with a run's overrides (DAG params); unknown keys are an error.

    Where the endpoint logs no shadow pairs (``targets.endpoint_scores_shadow_pairs``: Vertex),
    the default asks for none: the evidence rule would otherwise hold every canary forever. The
    shadow harm rules then never apply; the others do.
    """
    base = DEFAULT_POLICY if shadow_pairs_logged else replace(DEFAULT_POLICY, min_shadow_pairs=0)
    if not overrides:
        return base
    known = set(asdict(base))
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown canary policy settings: {sorted(unknown)}")
    return replace(base, **{k: type(getattr(base, k))(v) for k, v in overrides.items()})


def canary_pair(registry: ModelRegistry, model_name: str) -> tuple[ModelVersion, ModelVersion] | None:
    """The champion and the canary (the ``challenger``) to decide on; None when there is none.

    A ``challenger`` alias on the champion itself is what a promotion cut short before its last
    step leaves (:func:`apply_decision` moves traffic first and removes the alias last): the
    promotion is finished by removing it.
    """
    champion = registry.get(model_name, CHAMPION)
    canary = registry.get(model_name, CHALLENGER)
    if champion is not None and canary is not None and canary.version == champion.version:
        registry.remove_alias(model_name, CHALLENGER, canary.version)
        canary = None
    # A mark on anything but a challenger that can be decided is what a verdict finished but for
    # its mark leaves (a try cut after the challenger alias went): left, it would decide that
    # version at once if it were ever made challenger again, and registration waits while any
    # version carries one (training.steps.wait_for_canary_verdict).
    decidable = canary.version if canary is not None and champion is not None else None
    for mark in VERDICT_MARKS:
        marked = registry.get(model_name, mark)
        if marked is not None and marked.version != decidable:
            registry.remove_alias(model_name, mark, marked.version)
    if canary is None or champion is None:
        return None
    return champion, canary


#: The mark a verdict sets on the canary while it is carried out.
MARKS = {Verdict.PROMOTE: PROMOTING, Verdict.ROLLBACK: ROLLING_BACK}


def begun_decision(canary: ModelVersion) -> Decision | None:
    """The verdict an earlier try or run began to carry out on ``canary`` and did not finish
    (its mark is still on it), to be finished as it was decided; ``None`` when there is none.

    Deciding again would read other evidence: a rollback cut short after Vertex undeployed the
    canary leaves it answering nothing, the failures that name no model are no longer laid at
    its door, and the same rows that rolled it back could promote it. A promotion cut short
    leaves the canary serving everything against a champion that serves nothing.
    """
    for verdict, mark in MARKS.items():
        if mark in canary.aliases:
            what = "promotion" if verdict is Verdict.PROMOTE else "rollback"
            return Decision(
                verdict,
                (
                    f"finishing the {what} of v{canary.version} that an earlier try began and did "
                    "not finish (its reasons are in that try's log)",
                ),
            )
    return None


def apply_decision(
    decision: Decision,
    registry: ModelRegistry,
    endpoint: ModelEndpoint,
    model_name: str,
    canary_version: str,
    champion_version: str,
    threshold_of: Any,
    on_rollback: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Carry out ``decision``; return what changed (the split, the aliases).

    ``on_rollback`` (the alert) is called once the canary is off the endpoint and before it
    loses its ``challenger`` alias; it raises when the alert could not be sent. A try cut short
    in between, or whose alert failed, is finished by the next one, which alerts: at least once.
    """
    outcome: dict[str, Any] = {**decision.to_dict(), "canary": canary_version, "champion": champion_version}
    if decision.verdict is Verdict.HOLD:
        return outcome
    canary = registry.get(model_name, canary_version)
    champion = registry.get(model_name, champion_version)
    if canary is None or champion is None:
        raise KeyError(
            f"{model_name}: canary v{canary_version} or champion v{champion_version} not registered"
        )
    mark = MARKS[decision.verdict]
    registry.set_alias(model_name, mark, canary.version)  # first: cut short later, it is finished
    if decision.verdict is Verdict.PROMOTE:
        # Traffic first, the challenger alias last: cut short anywhere, the canary keeps its
        # alias and its mark, so the next run (a retry, the next hour's) finishes the promotion,
        # or finds it done but for the alias (canary_pair). The other order could leave a
        # canary serving everything that no run looks at again.
        outcome["traffic"] = endpoint.promote(canary, threshold_of(canary))
        hand_over_champion(registry, model_name, canary.version, champion.version)
    else:
        outcome["traffic"] = endpoint.rollback(canary, champion)
        if on_rollback is not None:
            on_rollback(outcome)
        # the canary's alias only: a training run may have made a newer version challenger
        # meanwhile (its pipeline registers and deploys outside any Airflow pool or lease)
        registry.remove_alias(model_name, CHALLENGER, canary.version)
    # last: a mark left by a cut here lies on a version that is no longer the challenger (only
    # the challenger's is read), and the next run's canary_pair removes it
    registry.remove_alias(model_name, mark, canary.version)
    return outcome


def revert_to_previous_champion(
    registry: ModelRegistry, endpoint: ModelEndpoint, model_name: str, threshold_of: Any
) -> dict[str, int]:
    """Undo the last promotion in one call: ``previous-champion`` serves 100 % and is champion again."""
    previous = registry.get(model_name, PREVIOUS_CHAMPION)
    current = registry.get(model_name, CHAMPION)
    if previous is None:
        raise KeyError(f"{model_name} has no {PREVIOUS_CHAMPION} alias")
    split = endpoint.promote(previous, threshold_of(previous))
    registry.set_alias(model_name, CHAMPION, previous.version)
    if current is not None:
        registry.set_alias(model_name, PREVIOUS_CHAMPION, current.version)
    return split


def decide_from_rows(
    rows: list[tuple[Any, ...]],
    champion: str,
    canary: str,
    policy: CanaryPolicy,
    now: datetime | None = None,
    canary_traffic_percent: int = 0,
) -> tuple[Evidence, Decision]:
    evidence = evidence_from_rows(rows, champion, canary, now, canary_traffic_percent)
    return evidence, decide(evidence.canary, evidence.champion, evidence.window, policy)
