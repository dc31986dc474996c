"""When a canary has earned 100 % of traffic, should wait, or must be taken out: :func:`decide`.

A pure function of what the prediction log says about the two models over one window, so the
rules are tested as a table and the scheduled task that applies the verdict
(:mod:`fraud_mlops.monitoring.canary_apply`) holds no policy of its own.

Order of the rules, and why:

1. **Harm first.** Model calls failing since the canary's deployment where the endpoint does not
   say which model failed (Vertex), beyond the day before's rate, are charged to the canary, and
   its error rate with them above the SLO or the champion's + tolerance rolls back: a canary
   failing every call never answers, so nothing below could see it. So does a canary that
   answers far fewer calls than its traffic share gives it: its failures went where the log does
   not name it (retried onto the champion, or answered by the endpoint as unavailable). With at least
   ``min_requests_for_rollback`` canary answers, any of these rolls
   back at once, without waiting for the full window: error rate above the SLO or above the
   champion's by more than the tolerance; p99 latency (from ``min_requests_for_latency`` answers
   on: below, a p99 is the slowest answer or two) above the SLO or above the champion's by
   more than the ratio plus an absolute slack (a p99 of well under a millisecond, as a local or
   warm endpoint gives, doubles on one scheduler hiccup); fraud-alert rate outside a band around
   the champion's (a model that flags everything swamps the analysts, one that flags nothing
   lets fraud through), and significantly so: a canary identical to a champion that flags 0.5 %
   shows one alert in 50 answers (2 %, above the band) one time in five; scores on shadow pairs
   (the same request scored by both) diverging beyond a bound.
2. **Evidence second.** No promotion before ``min_requests`` canary answers, ``min_elapsed``
   of serving (a full traffic cycle, not a lucky burst) and ``min_shadow_pairs`` compared pairs,
   nor while the alert rate lies outside the band without being significantly so: more answers
   will tell.
3. Otherwise **promote**.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Verdict(StrEnum):
    PROMOTE = "PROMOTE"
    HOLD = "HOLD"
    ROLLBACK = "ROLLBACK"


@dataclass(frozen=True)
class ModelStats:
    """One model version's answers in the window, from ``prediction_log`` (source ``online``)."""

    version: str
    requests: int
    errors: int = 0
    p99_latency_ms: float = 0.0
    alerts: int = 0  # answers with decision ``fraud``

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def alert_rate(self) -> float:
        answered = self.requests - self.errors
        return self.alerts / answered if answered > 0 else 0.0


@dataclass(frozen=True)
class Window:
    """The comparison window: how long the canary has served and what the shadow pairs say."""

    elapsed_seconds: float
    shadow_pairs: int = 0
    shadow_mean_abs_diff: float = 0.0  # mean |canary score - champion score| on the same request
    shadow_decision_disagreement: float = 0.0  # share of pairs whose decisions differ
    #: the model calls since the canary's deployment, and those among them that failed naming
    #: no model (Vertex does not say which deployed model failed); the same for the day before
    endpoint_requests: int = 0
    unattributed_failures: int = 0
    before_requests: int = 0
    before_failures: int = 0
    #: the model calls since the canary's first row (an answer or an error naming it), or, for a
    #: canary with none, since an hour after its deployment began: what its share owed it
    canary_calls: int = 0
    #: the canary's share of the endpoint's traffic, in percent (0: not known)
    canary_traffic_percent: int = 0


@dataclass(frozen=True)
class CanaryPolicy:
    """Thresholds; the defaults suit the local demo's traffic and are documented in docs/monitoring.md."""

    min_requests: int = 200
    min_requests_for_rollback: int = 50
    min_elapsed_seconds: float = 600.0
    min_shadow_pairs: int = 50
    slo_error_rate: float = 0.01
    max_error_rate_increase: float = 0.005
    slo_p99_latency_ms: float = 250.0
    #: below it a p99 is one of the few slowest answers (of 50, PERCENTILE_CONT weighs the slowest
    #: by half): one cold start of the function, not the model, would roll the canary back
    min_requests_for_latency: int = 300
    max_p99_latency_ratio: float = 1.5
    p99_latency_slack_ms: float = 5.0  # ... plus this absolute slack (sub-ms p99s are noisy)
    alert_rate_band: float = 2.0  # canary alert rate within [champion / band, champion x band]
    alert_rate_slack: float = 0.005  # ... widened by this absolute slack (tiny rates are noisy)
    alert_rate_alpha: float = 0.01  # rollback only when a band edge explains the alerts less often
    max_shadow_mean_abs_diff: float = 0.10
    max_shadow_disagreement: float = 0.05
    #: a canary's answers below this share of what its traffic share gives it, and significantly
    #: so (below ``answer_deficit_alpha``: a run checked hourly tests many times), roll it back
    min_answer_share: float = 0.5
    answer_deficit_alpha: float = 1e-4


DEFAULT_POLICY = CanaryPolicy()


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {"verdict": str(self.verdict), "reasons": list(self.reasons)}


def decide(
    canary: ModelStats, champion: ModelStats, window: Window, policy: CanaryPolicy = DEFAULT_POLICY
) -> Decision:
    """PROMOTE, HOLD or ROLLBACK the canary, with every reason that led there."""
    harms = (
        _unattributed_failures(canary, champion, window, policy)
        + _answer_deficit(canary, window, policy)
        + (
            _harms(canary, champion, window, policy)
            if canary.requests >= policy.min_requests_for_rollback
            else []
        )
    )
    if harms:
        return Decision(Verdict.ROLLBACK, tuple(harms))
    missing = _missing_evidence(canary, champion, window, policy)
    if missing:
        return Decision(Verdict.HOLD, tuple(missing))
    return Decision(
        Verdict.PROMOTE,
        (
            f"{canary.requests} requests over {window.elapsed_seconds:.0f} s, {window.shadow_pairs} shadow pairs",
            f"error rate {canary.error_rate:.2%} (champion {champion.error_rate:.2%}), "
            f"p99 {canary.p99_latency_ms:.1f} ms (champion {champion.p99_latency_ms:.1f} ms), "
            f"alert rate {canary.alert_rate:.2%} (champion {champion.alert_rate:.2%}), "
            f"shadow mean |diff| {window.shadow_mean_abs_diff:.3f}",
        ),
    )


def _harms(canary: ModelStats, champion: ModelStats, window: Window, p: CanaryPolicy) -> list[str]:
    harms: list[str] = []
    if breach := _error_rate_breach(canary.error_rate, champion, p):
        harms.append(f"error rate {canary.error_rate:.2%} {breach}")
    if canary.requests >= p.min_requests_for_latency:
        harms.extend(_latency_breaches(canary, champion, p))
    if _alert_rate_outside(canary, champion, p) == "significantly":
        harms.append(f"alert rate {_alert_rate_phrase(canary, champion, p)}")
    if window.shadow_pairs and window.shadow_pairs >= p.min_shadow_pairs:  # none: nothing to judge
        if window.shadow_mean_abs_diff > p.max_shadow_mean_abs_diff:
            harms.append(
                f"shadow scores diverge: mean |diff| {window.shadow_mean_abs_diff:.3f} "
                f"> {p.max_shadow_mean_abs_diff:.3f} over {window.shadow_pairs} pairs"
            )
        if window.shadow_decision_disagreement > p.max_shadow_disagreement:
            harms.append(
                f"shadow decisions disagree on {window.shadow_decision_disagreement:.2%} of "
                f"{window.shadow_pairs} pairs (> {p.max_shadow_disagreement:.2%})"
            )
    return harms


def _unattributed_failures(
    canary: ModelStats, champion: ModelStats, window: Window, p: CanaryPolicy
) -> list[str]:
    """Model calls failing naming no model (Vertex), charged to the canary: the failures since
    its deployment beyond what the day before's rate explains (a champion failing as often
    before is not the canary's doing) are taken as its own, and its error rate with them is
    judged by the error rules. A canary that fails every call never answers, so nothing else
    could see it; one failing a tenth of its 10 % share moves the endpoint's rate by 1 %."""
    if not window.unattributed_failures:
        return []
    before = window.before_failures / window.before_requests if window.before_requests else 0.0
    excess = round(window.unattributed_failures - before * window.endpoint_requests)
    requests = canary.requests + excess
    if excess <= 0 or requests < p.min_requests_for_rollback:
        return []
    rate = (canary.errors + excess) / requests
    if _error_rate_breach(rate, champion, p) is None:
        return []
    return [
        f"error rate {rate:.2%} with the {excess} failures naming no model charged to the canary "
        f"({window.unattributed_failures} of {window.endpoint_requests} model calls since its "
        f"deployment, {before:.2%} the day before; the endpoint does not say which model failed): "
        f"above the SLO {p.slo_error_rate:.2%} or the champion's {champion.error_rate:.2%} "
        f"+ {p.max_error_rate_increase:.2%}"
    ]


def _answer_deficit(canary: ModelStats, window: Window, p: CanaryPolicy) -> list[str]:
    """A canary answering far fewer of the model calls since its traffic began (its first row; for
    a canary with none, an hour after its deployment began: a deploy's calls are all the champion's
    until its traffic split applies) than its share of the traffic gives it. Vertex splits each request by the traffic split, and the function retries a
    503 (a failing custom container surfaces as one), which Vertex may route to the champion: a
    canary failing every call then never answers and is never charged with a failure, and it
    would be held for good, serving and billed. Judged only when the share is known and the
    expected answers reach ``min_requests_for_rollback``; a canary with its share's answers, or
    short of it by chance (the binomial tail at the shortfall above ``answer_deficit_alpha``),
    is not touched."""
    share = window.canary_traffic_percent / 100
    calls = window.canary_calls
    if not 0 < share < 1 or not calls:
        return []
    expected = share * calls
    answered = canary.requests  # answers and errors naming the canary
    if expected < p.min_requests_for_rollback or answered >= p.min_answer_share * expected:
        return []
    from scipy.stats import binom

    if float(binom.cdf(answered, calls, share)) >= p.answer_deficit_alpha:
        return []
    return [
        f"answered {answered} of the {calls} model calls since its traffic began, where its "
        f"{window.canary_traffic_percent} % of the traffic gives ~{expected:.0f}: its calls fail "
        "where the log does not name it (retried onto the champion, or answered unavailable)"
    ]


def _error_rate_breach(rate: float, champion: ModelStats, p: CanaryPolicy) -> str | None:
    """The error limit a canary's ``rate`` passes: the SLO, or else the champion's rate plus the
    tolerance (when the champion answered); None within both."""
    if rate > p.slo_error_rate:
        return f"above the SLO {p.slo_error_rate:.2%}"
    if champion.requests and rate > champion.error_rate + p.max_error_rate_increase:
        return f"above the champion's {champion.error_rate:.2%} + {p.max_error_rate_increase:.2%}"
    return None


def _latency_breaches(canary: ModelStats, champion: ModelStats, p: CanaryPolicy) -> list[str]:
    if canary.p99_latency_ms > p.slo_p99_latency_ms:
        return [f"p99 latency {canary.p99_latency_ms:.1f} ms above the SLO {p.slo_p99_latency_ms:.0f} ms"]
    if champion.requests and canary.p99_latency_ms > (
        champion.p99_latency_ms * p.max_p99_latency_ratio + p.p99_latency_slack_ms
    ):
        return [
            f"p99 latency {canary.p99_latency_ms:.1f} ms above {p.max_p99_latency_ratio}x "
            f"the champion's {champion.p99_latency_ms:.1f} ms + {p.p99_latency_slack_ms:.0f} ms"
        ]
    return []


def _alert_band(champion: ModelStats, p: CanaryPolicy) -> tuple[float, float]:
    return (
        max(champion.alert_rate / p.alert_rate_band - p.alert_rate_slack, 0.0),
        min(champion.alert_rate * p.alert_rate_band + p.alert_rate_slack, 1.0),
    )


def _alert_rate_outside(
    canary: ModelStats, champion: ModelStats, p: CanaryPolicy
) -> Literal["no", "not yet significantly", "significantly"]:
    """Whether the canary's alert rate lies outside the band around the champion's.

    Significantly: were the canary's true rate at the band's nearer edge, its answers would show
    this many alerts (or more, or fewer) with probability below ``alert_rate_alpha`` (the
    binomial tail). The champion's rate is taken as it is: it answers most requests.
    """
    answered = canary.requests - canary.errors
    if champion.requests <= champion.errors or answered <= 0:
        return "no"
    low, high = _alert_band(champion, p)
    if low <= canary.alert_rate <= high:
        return "no"
    from scipy.stats import binom

    if canary.alert_rate > high:
        tail = float(binom.sf(canary.alerts - 1, answered, high))  # P(X >= alerts | rate = high)
    else:
        tail = float(binom.cdf(canary.alerts, answered, low))  # P(X <= alerts | rate = low)
    return "significantly" if tail < p.alert_rate_alpha else "not yet significantly"


def _alert_rate_phrase(canary: ModelStats, champion: ModelStats, p: CanaryPolicy) -> str:
    low, high = _alert_band(champion, p)
    return (
        f"{canary.alert_rate:.2%} ({canary.alerts} of {canary.requests - canary.errors}) outside "
        f"[{low:.2%}, {high:.2%}] around the champion's {champion.alert_rate:.2%}"
    )


def _missing_evidence(canary: ModelStats, champion: ModelStats, window: Window, p: CanaryPolicy) -> list[str]:
    missing: list[str] = []
    if canary.requests < p.min_requests:
        missing.append(f"only {canary.requests} canary requests (need {p.min_requests})")
    if window.elapsed_seconds < p.min_elapsed_seconds:
        missing.append(f"canary served {window.elapsed_seconds:.0f} s (need {p.min_elapsed_seconds:.0f} s)")
    if window.shadow_pairs < p.min_shadow_pairs:
        missing.append(f"only {window.shadow_pairs} shadow pairs (need {p.min_shadow_pairs})")
    if canary.requests < p.min_requests_for_latency:
        missing.extend(
            f"{breach}, over only {canary.requests} answers (a p99 needs {p.min_requests_for_latency})"
            for breach in _latency_breaches(canary, champion, p)
        )
    if _alert_rate_outside(canary, champion, p) == "not yet significantly":
        missing.append(
            f"alert rate {_alert_rate_phrase(canary, champion, p)}, not yet significantly "
            f"(p ≥ {p.alert_rate_alpha:g}): more answers will tell"
        )
    return missing
