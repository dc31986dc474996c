"""Applying the canary verdict through the registry/endpoint seam, on both targets, and the
prediction-log evidence (86_canary_window.sql on the real local warehouse) that feeds it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.cloud import aiplatform_v1 as v1

from fraud_mlops import targets
from fraud_mlops.monitoring.canary import Decision, Verdict
from fraud_mlops.monitoring.canary_apply import (
    Evidence,
    apply_decision,
    begun_decision,
    canary_pair,
    canary_sql_values,
    decide_from_rows,
    evidence_from_rows,
    policy_from,
    revert_to_previous_champion,
)
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.registry.artifact import MODEL_FILE
from fraud_mlops.registry.base import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, PROMOTING, ROLLING_BACK
from fraud_mlops.registry.local_endpoint import LocalEndpoint, read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.registry.vertex import VertexEndpoint, VertexModelRegistry
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql, sql_instant
from tests.vertex_registry import LookupRetry, answer_aliases

MODEL = "fraud-detector"
LOCATION = "projects/fraud-prj/locations/europe-west4"
PARENT = f"{LOCATION}/models/fraud-detector"
ENDPOINT = f"{LOCATION}/endpoints/42"


def _threshold(version: Any) -> float:
    return 0.4


@pytest.fixture
def local_canary(tmp_path: Path) -> tuple[LocalModelRegistry, LocalEndpoint]:
    registry = LocalModelRegistry(tmp_path / "registry")
    endpoint = LocalEndpoint(tmp_path / "endpoints" / "fraud-endpoint.json")
    versions = []
    for name, aliases in (("a", [CHAMPION]), ("b", [CHALLENGER])):
        folder = tmp_path / name
        folder.mkdir()
        (folder / MODEL_FILE).write_bytes(name.encode())
        versions.append(
            registry.register(
                MODEL, folder, str(folder), labels={}, metadata={"threshold": 0.4}, aliases=aliases
            )
        )
    endpoint.deploy_canary(versions[0], 0.4, None, 100)
    endpoint.deploy_canary(versions[1], 0.4, versions[0], 20)
    return registry, endpoint


def _split(endpoint: LocalEndpoint) -> dict[str, int]:
    return {m.model_version: m.traffic_percent for m in read_endpoint(endpoint.path).deployed_models}


def test_local_rollback_takes_the_canary_to_zero_and_keeps_the_champion(local_canary: Any) -> None:
    registry, endpoint = local_canary
    assert _split(endpoint) == {"2": 20, "1": 80}
    decision = Decision(Verdict.ROLLBACK, ("alert rate 100.00% outside [0.50%, 5.50%]",))

    outcome = apply_decision(decision, registry, endpoint, MODEL, "2", "1", _threshold)

    assert outcome["traffic"] == {"1": 100} and _split(endpoint) == {"1": 100}
    assert registry.get(MODEL, CHAMPION).version == "1"
    assert registry.get(MODEL, CHALLENGER) is None
    assert outcome["verdict"] == "ROLLBACK" and outcome["reasons"] == list(decision.reasons)


def test_local_promote_keeps_previous_champion_and_reverting_is_one_call(local_canary: Any) -> None:
    registry, endpoint = local_canary
    outcome = apply_decision(
        Decision(Verdict.PROMOTE, ("ok",)), registry, endpoint, MODEL, "2", "1", _threshold
    )

    assert outcome["traffic"] == {"2": 100} and _split(endpoint) == {"2": 100}
    assert registry.get(MODEL, CHAMPION).version == "2"
    assert registry.get(MODEL, PREVIOUS_CHAMPION).version == "1"
    assert registry.get(MODEL, CHALLENGER) is None

    assert revert_to_previous_champion(registry, endpoint, MODEL, _threshold) == {"1": 100}
    assert _split(endpoint) == {"1": 100}
    assert registry.get(MODEL, CHAMPION).version == "1"
    assert registry.get(MODEL, PREVIOUS_CHAMPION).version == "2"


class Cut(Exception):
    """A try cut short (a worker lost) at one registry call."""


def _cut_at(registry: LocalModelRegistry, failing_call: int) -> Any:
    """``registry``, whose ``failing_call``-th alias call (from 0) raises :class:`Cut`."""
    calls = {"n": 0}

    def cut(call: Any) -> Any:
        def step(*args: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == failing_call + 1:
                raise Cut(call.__name__)
            return call(*args)

        return step

    flaky = mock.Mock(wraps=registry)
    flaky.get.side_effect = registry.get
    flaky.set_alias.side_effect = cut(registry.set_alias)
    flaky.remove_alias.side_effect = cut(registry.remove_alias)
    return flaky


def _next_run(registry: LocalModelRegistry, endpoint: LocalEndpoint, alerts: list[dict[str, Any]]) -> Any:
    """What the task does next (a retry, or the next hour's run) before it reads any evidence:
    the pair, then the verdict begun on it; ``None`` when there is nothing to decide."""
    pair = canary_pair(registry, MODEL)
    if pair is None:
        return None
    champion, canary = pair
    decision = begun_decision(canary)
    if decision is not None:
        apply_decision(
            decision, registry, endpoint, MODEL, canary.version, champion.version, _threshold, alerts.append
        )
    return decision


@pytest.mark.parametrize("failing_call", range(1, 5))
def test_a_promotion_cut_short_is_finished_by_the_next_run(local_canary: Any, failing_call: int) -> None:
    """The canary is marked first, traffic moves next, and the ``challenger`` alias and the mark
    go last. Cut short at any alias call after the traffic moved, the next run (a retry, or the
    next hour's), which starts from ``canary_pair`` as the task does, finishes the promotion
    without deciding again, or finds it done but for the alias and removes it. Decided again,
    the canary serving everything against a champion serving nothing could be rolled back onto
    a champion that is not deployed (an error every hour)."""
    registry, endpoint = local_canary
    with pytest.raises(Cut):
        apply_decision(
            Decision(Verdict.PROMOTE, ("ok",)),
            _cut_at(registry, failing_call),
            endpoint,
            MODEL,
            "2",
            "1",
            _threshold,
        )
    assert _split(endpoint) == {"2": 100}

    decision = _next_run(registry, endpoint, [])
    if failing_call < 3:
        assert decision is not None and decision.verdict is Verdict.PROMOTE
        assert "finishing the promotion of v2" in decision.reasons[0]
    else:
        assert decision is None  # only the alias removals were left (canary_pair ends them)

    assert _split(endpoint) == {"2": 100}
    assert registry.get(MODEL, CHAMPION).version == "2"
    assert registry.get(MODEL, PREVIOUS_CHAMPION).version == "1"
    assert registry.get(MODEL, CHALLENGER) is None
    assert canary_pair(registry, MODEL) is None
    assert registry.get(MODEL, PROMOTING) is None  # no mark left to decide a later canary


@pytest.mark.parametrize("cut", ["alert", "challenger", "mark"])
def test_a_rollback_cut_short_is_finished_and_alerted_by_the_next_run(local_canary: Any, cut: str) -> None:
    """Cut short after the canary left the endpoint (a worker lost while Vertex undeployed it),
    the canary kept its ``challenger`` alias and the next run decided again, from evidence in
    which the undeployed canary no longer answers and failures naming no model are no longer
    laid at its door: the rows that rolled it back could promote it, and the rollback was never
    alerted. The mark makes the next run finish the rollback and alert (again, if the first try
    had alerted: at least once, never not at all)."""
    registry, endpoint = local_canary
    first: list[dict[str, Any]] = []

    def alert_cut_short(outcome: dict[str, Any]) -> None:
        raise Cut("raise_alert")

    rollback = Decision(Verdict.ROLLBACK, ("alert rate 100.00% outside [0.50%, 5.50%]",))
    flaky = _cut_at(registry, {"alert": 99, "challenger": 1, "mark": 2}[cut])
    with pytest.raises(Cut):
        apply_decision(
            rollback,
            flaky,
            endpoint,
            MODEL,
            "2",
            "1",
            _threshold,
            alert_cut_short if cut == "alert" else first.append,
        )
    assert _split(endpoint) == {"1": 100}
    assert len(first) == (0 if cut == "alert" else 1)

    alerts: list[dict[str, Any]] = []
    decision = _next_run(registry, endpoint, alerts)
    if cut == "mark":  # the alias was gone: nothing left to do; the mark left on v2 is read no more
        assert decision is None and alerts == []
    else:
        assert decision is not None and decision.verdict is Verdict.ROLLBACK
        assert "finishing the rollback of v2" in decision.reasons[0]
        assert alerts == [{**decision.to_dict(), "canary": "2", "champion": "1", "traffic": {"1": 100}}]

    assert _split(endpoint) == {"1": 100}
    assert registry.get(MODEL, CHAMPION).version == "1"
    assert registry.get(MODEL, CHALLENGER) is None
    assert canary_pair(registry, MODEL) is None
    # no mark left: had v2 been made challenger again, its mark would have rolled it back unread
    assert registry.get(MODEL, ROLLING_BACK) is None


class _TrainingMeanwhile:
    """The endpoint, while a training run registers v3 as the challenger during the verdict's
    traffic move: the pipeline registers and deploys outside any Airflow pool or lease."""

    def __init__(self, endpoint: LocalEndpoint, registry: LocalModelRegistry, folder: Path) -> None:
        self.endpoint, self.registry, self.folder = endpoint, registry, folder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.endpoint, name)

    def _register_v3(self) -> None:
        self.folder.mkdir()
        (self.folder / MODEL_FILE).write_bytes(b"c")
        self.registry.register(
            MODEL, self.folder, str(self.folder), labels={}, metadata={"threshold": 0.4}, aliases=[CHALLENGER]
        )

    def promote(self, *args: Any) -> dict[str, int]:
        split = self.endpoint.promote(*args)
        self._register_v3()
        return split

    def rollback(self, *args: Any) -> dict[str, int]:
        split = self.endpoint.rollback(*args)
        self._register_v3()
        return split


@pytest.mark.parametrize("verdict", [Verdict.PROMOTE, Verdict.ROLLBACK])
def test_a_challenger_registered_while_a_verdict_is_carried_out_keeps_its_alias(
    local_canary: Any, tmp_path: Path, verdict: Verdict
) -> None:
    """The verdict on v2 takes v2's challenger alias and mark off, not v3's, which training made
    challenger meanwhile: v3 is the next canary judged. Before, the alias was taken off whichever
    version held it, and v3 served its share with no run ever judging or rolling it back."""
    registry, endpoint = local_canary
    racing = _TrainingMeanwhile(endpoint, registry, tmp_path / "c")

    apply_decision(Decision(verdict, ("ok",)), registry, racing, MODEL, "2", "1", _threshold)

    assert registry.get(MODEL, CHALLENGER).version == "3"
    assert registry.get(MODEL, PROMOTING) is None and registry.get(MODEL, ROLLING_BACK) is None
    pair = canary_pair(registry, MODEL)
    champion = "2" if verdict is Verdict.PROMOTE else "1"
    assert pair is not None and [v.version for v in pair] == [champion, "3"]


def test_vertex_removes_an_alias_only_from_the_version_named() -> None:
    """Model Registry: a version's alias is taken off only while that version holds it (one
    GetModel, no MergeVersionAliases once another version holds it)."""
    registry, model_client = _vertex_registry()
    aliases = answer_aliases(model_client, PARENT, {CHAMPION: "1", CHALLENGER: "3"}, "gs://m/{}")

    registry.remove_alias(MODEL, CHALLENGER, "2")
    assert aliases == {CHAMPION: "1", CHALLENGER: "3"}
    model_client.merge_version_aliases.assert_not_called()

    registry.remove_alias(MODEL, CHALLENGER, "3")
    assert aliases == {CHAMPION: "1"}
    model_client.merge_version_aliases.assert_called_once_with(
        request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[f"-{CHALLENGER}"])
    )


def test_the_canary_pair_is_the_champion_and_the_challenger(local_canary: Any) -> None:
    registry, _ = local_canary
    pair = canary_pair(registry, MODEL)
    assert pair is not None and [v.version for v in pair] == ["1", "2"]
    registry.remove_alias(MODEL, CHALLENGER)
    assert canary_pair(registry, MODEL) is None
    assert registry.get(MODEL, CHAMPION).version == "1"  # nothing else touched


def test_a_mark_on_anything_but_a_challenger_that_can_be_decided_is_removed(local_canary: Any) -> None:
    """Training waits at registration while any version carries a verdict's mark, and the canary
    task, with training in flight, only finishes a verdict marked on the challenger: a mark
    anywhere else would keep every training run waiting until it failed."""
    registry, _ = local_canary
    registry.set_alias(MODEL, PROMOTING, "1")  # on the champion: a verdict finished but for it
    registry.set_alias(MODEL, ROLLING_BACK, "2")  # on the challenger: a verdict to finish
    pair = canary_pair(registry, MODEL)
    assert pair is not None and [v.version for v in pair] == ["1", "2"]
    assert registry.get(MODEL, PROMOTING) is None and registry.get(MODEL, ROLLING_BACK).version == "2"

    registry.remove_alias(MODEL, CHAMPION, "1")  # no champion: the challenger cannot be decided
    assert canary_pair(registry, MODEL) is None
    assert registry.get(MODEL, ROLLING_BACK) is None and registry.get(MODEL, CHALLENGER).version == "2"


def test_hold_changes_nothing(local_canary: Any) -> None:
    registry, endpoint = local_canary
    before = endpoint.path.read_text()
    outcome = apply_decision(
        Decision(Verdict.HOLD, ("wait",)), registry, endpoint, MODEL, "2", "1", _threshold
    )
    assert "traffic" not in outcome and endpoint.path.read_text() == before
    assert registry.get(MODEL, CHALLENGER).version == "2"


def _vertex_registry() -> tuple[VertexModelRegistry, mock.MagicMock]:
    client = mock.create_autospec(v1.ModelServiceClient, instance=True)
    client.list_models.return_value = [v1.Model(name=PARENT)]
    aliases = {CHAMPION: "1", CHALLENGER: "3"}

    answer_aliases(client, PARENT, aliases, "gs://b/m{}")
    return VertexModelRegistry("fraud-prj", "europe-west4", client), client


def _vertex_endpoint() -> tuple[VertexEndpoint, mock.MagicMock]:
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    deployed = [
        v1.DeployedModel(id="111", model=PARENT, model_version_id="1"),
        v1.DeployedModel(id="333", model=PARENT, model_version_id="3"),
    ]
    client.list_endpoints.return_value = [
        v1.Endpoint(name=ENDPOINT, deployed_models=deployed, traffic_split={"111": 90, "333": 10})
    ]
    return VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client), client


def test_vertex_rollback_is_one_undeploy_request_that_moves_the_traffic() -> None:
    registry, model_client = _vertex_registry()
    endpoint, endpoint_client = _vertex_endpoint()

    outcome = apply_decision(
        Decision(Verdict.ROLLBACK, ("slow",)), registry, endpoint, MODEL, "3", "1", _threshold
    )

    endpoint_client.undeploy_model.assert_called_once_with(
        request=v1.UndeployModelRequest(
            endpoint=ENDPOINT, deployed_model_id="333", traffic_split={"111": 100}
        )
    )
    endpoint_client.update_endpoint.assert_not_called()
    endpoint_client.deploy_model.assert_not_called()
    assert model_client.merge_version_aliases.call_args_list == [
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[ROLLING_BACK]),
            retry=LookupRetry(),
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[f"-{CHALLENGER}"])
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[f"-{ROLLING_BACK}"])
        ),
    ]
    assert outcome["traffic"] == {"1": 100}


def test_vertex_rollback_of_a_canary_already_gone_reports_the_endpoints_split() -> None:
    """v2 left the endpoint before its rollback ran (a newer canary's deploy replaced it): no
    request is sent, and the outcome (what the rollback alert states) is the split the endpoint
    has, not one assumed."""
    registry, _ = _vertex_registry()
    endpoint, endpoint_client = _vertex_endpoint()
    canary = registry.get(MODEL, "2")
    champion = registry.get(MODEL, "1")
    assert canary is not None and champion is not None

    assert endpoint.rollback(canary, champion) == {"1": 90, "3": 10}
    endpoint_client.undeploy_model.assert_not_called()


def test_vertex_promote_moves_traffic_and_aliases_keeping_previous_champion() -> None:
    from google.protobuf import field_mask_pb2

    registry, model_client = _vertex_registry()
    endpoint, endpoint_client = _vertex_endpoint()

    outcome = apply_decision(
        Decision(Verdict.PROMOTE, ("ok",)), registry, endpoint, MODEL, "3", "1", _threshold
    )

    endpoint_client.update_endpoint.assert_called_once_with(
        request=v1.UpdateEndpointRequest(
            endpoint=v1.Endpoint(name=ENDPOINT, traffic_split={"333": 100}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        ),
        retry=LookupRetry(),
    )
    endpoint_client.undeploy_model.assert_called_once_with(
        request=v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="111")
    )
    assert model_client.merge_version_aliases.call_args_list == [
        # the mark on v3, previous_champion → v1 (no holder yet), champion moved onto v3 in one
        # request (Model Registry takes it off v1), challenger off v3, the mark off v3
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[PROMOTING]),
            retry=LookupRetry(),
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@1", version_aliases=[PREVIOUS_CHAMPION]),
            retry=LookupRetry(),
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[CHAMPION]),
            retry=LookupRetry(),
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[f"-{CHALLENGER}"])
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=[f"-{PROMOTING}"])
        ),
    ]
    assert outcome["traffic"] == {"3": 100}


def _row(rid: str, version: str, at: datetime, *, source: str = "online", score: float = 0.1,
         threshold: float = 0.5, latency: float = 5.0, status: int = 200) -> dict[str, Any]:  # fmt: skip
    return records.record(
        request_id=rid, source=source, status=status, logged_at=at, card_pseudonym="p", vector=None,
        score=score if status == 200 else None, threshold=threshold if status == 200 else None,
        model={"name": MODEL, "version": version, "deployed_model_id": f"{MODEL}-v{version}"},
        latency_ms=latency if source == "online" else None,
    )  # fmt: skip


def test_evidence_from_the_prediction_log_feeds_decide(local_settings: Settings) -> None:
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = [_row("old", "1", start - timedelta(days=1), latency=900.0)]  # before the canary: ignored
    for i in range(300):
        at = start + timedelta(seconds=i)
        if i % 3 == 0:  # the canary answers a third, flags everything, and is slow
            rows.append(_row(f"r{i}", "2", at, score=0.3, threshold=0.0, latency=40.0 + i % 7))
        else:
            rows.append(_row(f"r{i}", "1", at, score=0.1, latency=4.0 + i % 5))
            rows.append(_row(f"r{i}", "2", at, source="shadow", score=0.3, threshold=0.0))
    warehouse = targets.warehouse(local_settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
    append_staged(warehouse, local_settings)

    sql = render_sql("86_canary_window.sql", local_settings, **canary_sql_values("1", "2"))
    result = [tuple(r) for r in warehouse.records(sql)]
    policy = policy_from({"min_requests": 50, "min_elapsed_seconds": 60, "min_requests_for_latency": 100})
    evidence, decision = decide_from_rows(result, "1", "2", policy, now=start + timedelta(minutes=10))

    assert (evidence.canary.requests, evidence.champion.requests) == (100, 200)
    assert evidence.canary.alerts == 100 and evidence.champion.alerts == 0
    assert 40 <= evidence.canary.p99_latency_ms <= 46 and evidence.champion.p99_latency_ms <= 8
    assert evidence.window.shadow_pairs == 200
    assert evidence.window.shadow_mean_abs_diff == pytest.approx(0.2)
    assert evidence.window.shadow_decision_disagreement == pytest.approx(1.0)
    assert evidence.window.elapsed_seconds == pytest.approx(600.0)
    assert decision.verdict is Verdict.ROLLBACK
    assert len(decision.reasons) == 4  # latency ratio, alert rate, shadow diff, shadow disagreement

    # read from an hour before the canary's deployment on: the same evidence; a deployment
    # said to be later than the answers (an impossible clock) leaves out what came before it
    deployed = canary_sql_values("1", "2", deployed_since=start)
    assert deployed["since"] == sql_instant(start - timedelta(hours=1))
    bounded = [
        tuple(r) for r in warehouse.records(render_sql("86_canary_window.sql", local_settings, **deployed))
    ]
    assert [r[:10] for r in bounded] == [r[:10] for r in result]
    # the endpoint's counts, taken once the deployment time is known: 300 model calls since, none
    # failed, and the one answer a day before in the baseline
    assert {r[10:14] for r in result} == {(0, 0, 0, 0)} and {r[10:14] for r in bounded} == {(300, 0, 1, 0)}
    # and the calls since the canary's first answer, what its share owed it answers of
    assert {r[14] for r in result} == {0} and {r[14] for r in bounded} == {300}
    later = canary_sql_values("1", "2", deployed_since=start + timedelta(hours=1, seconds=150))
    evidence, _ = decide_from_rows(
        [tuple(r) for r in warehouse.records(render_sql("86_canary_window.sql", local_settings, **later))],
        "1", "2", policy, now=start + timedelta(minutes=10),
    )  # fmt: skip
    assert 0 < evidence.canary.requests < 100 and 0 < evidence.champion.requests < 200


def test_failed_model_calls_reach_the_evidence(local_settings: Settings) -> None:
    """A failed call the endpoint charged to a model (local) counts as that version's error; one
    naming no model (Vertex) counts among the endpoint's failures since the canary's deployment,
    and only when that time is known. Other failures (the online store) are not the model's."""
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = [_row("before", "1", start - timedelta(hours=2))]  # before the deployment
    for i in range(100):
        at = start + timedelta(seconds=i)
        rows.append(_row(f"c{i}", "1", at))
        if i % 10 == 0:  # the canary, failing one call in ten, named
            rows.append(_row(f"n{i}", "2", at, status=500))
        elif i % 10 == 1:  # a failure naming no model
            rows.append(records.record(request_id=f"u{i}", source="online", status=500, logged_at=at,
                                       latency_ms=3.0, error="model_error"))  # fmt: skip
        elif i % 10 == 2:  # not the model's
            rows.append(records.record(request_id=f"s{i}", source="online", status=503, logged_at=at,
                                       latency_ms=3.0, error="dependency_unavailable"))  # fmt: skip
        else:
            rows.append(_row(f"a{i}", "2", at))
    warehouse = targets.warehouse(local_settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
    append_staged(warehouse, local_settings)

    def evidence(deployed: datetime | None) -> Evidence:
        sql = render_sql("86_canary_window.sql", local_settings, **canary_sql_values("1", "2", deployed))
        return evidence_from_rows([tuple(r) for r in warehouse.records(sql)], "1", "2", now=start)

    known = evidence(start)
    assert (known.canary.requests, known.canary.errors) == (80, 10)
    assert known.champion.requests == 100
    # model calls since the deployment: not the store's 503s; the answer before it is the baseline
    w = known.window
    assert (w.endpoint_requests, w.unattributed_failures, w.before_requests, w.before_failures) == (
        190,
        10,
        1,
        0,
    )
    unknown = evidence(None)
    assert (unknown.canary.requests, unknown.canary.errors) == (80, 10)
    w = unknown.window
    assert (w.endpoint_requests, w.unattributed_failures, w.before_requests, w.before_failures) == (
        0,
        0,
        0,
        0,
    )


def test_the_endpoints_counts_arrive_when_no_version_answered(local_settings: Settings) -> None:
    """Every call since the canary's deployment failed, naming no model: no version has a row,
    and the evidence is the endpoint's counts alone, enough to roll the canary back."""
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = [
        records.record(request_id=f"u{i}", source="online", status=500, logged_at=start + timedelta(seconds=i),
                       latency_ms=3.0, error="model_error")
        for i in range(60)
    ]  # fmt: skip
    warehouse = targets.warehouse(local_settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
    append_staged(warehouse, local_settings)
    sql = render_sql("86_canary_window.sql", local_settings, **canary_sql_values("1", "2", start))
    result = [tuple(r) for r in warehouse.records(sql)]
    # no canary row to count its owed answers from: from an hour after its deployment, none yet
    assert [(r[0], r[10:]) for r in result] == [(None, (60, 60, 0, 0, 0))]
    evidence, decision = decide_from_rows(result, "1", "2", policy_from(None), now=start)
    assert evidence.canary.requests == evidence.champion.requests == 0
    assert decision.verdict is Verdict.ROLLBACK and "60 of 60 model calls" in decision.reasons[0]


def test_versions_are_checked_before_they_reach_sql_and_policy_keys_are_known() -> None:
    with pytest.raises(ValueError, match="not a model version"):
        canary_sql_values("1", "2' OR '1'='1")
    with pytest.raises(ValueError, match="unknown canary policy"):
        policy_from({"min_requestz": 1})
    assert policy_from({"min_requests": "20"}).min_requests == 20


def test_where_no_shadow_pair_is_ever_logged_a_good_canary_is_promoted_without_them() -> None:
    """Vertex cannot score shadow pairs (registry/shadow.py): 86_canary_window.sql then gives
    COUNT 0 and NULL averages, and the default policy would hold such a canary forever."""
    champion, canary = ("1", 2000, 2, 20.0, 40), ("2", 400, 0, 22.0, 9)
    first = datetime.now(UTC) - timedelta(hours=2)
    rows = [(*version, first, first, 0, None, None, 2400, 0, 0, 0, 2400) for version in (champion, canary)]

    _, held = decide_from_rows(rows, "1", "2", policy_from(None))
    _, promoted = decide_from_rows(rows, "1", "2", policy_from(None, shadow_pairs_logged=False))

    assert held.verdict is Verdict.HOLD and held.reasons == ("only 0 shadow pairs (need 50)",)
    assert promoted.verdict is Verdict.PROMOTE
    assert policy_from({"min_requests": 20}, shadow_pairs_logged=False).min_shadow_pairs == 0
    assert policy_from({"min_shadow_pairs": 5}, shadow_pairs_logged=False).min_shadow_pairs == 5


def test_only_the_local_endpoint_scores_shadow_pairs(local_settings: Settings) -> None:
    from fraud_mlops.registry.endpoint_client import LocalEndpointClient, VertexEndpointClient
    from fraud_mlops.registry.shadow import shadow_scorer

    gcp = replace(local_settings, target="gcp")
    assert targets.endpoint_scores_shadow_pairs(local_settings)
    assert not targets.endpoint_scores_shadow_pairs(gcp)
    # the capability the flag stands for: a scorer exists for the local client only
    assert shadow_scorer(mock.create_autospec(LocalEndpointClient, instance=True), 0.25) is not None
    assert shadow_scorer(mock.create_autospec(VertexEndpointClient, instance=True), 0.25) is None


def test_a_canary_owes_answers_only_from_when_its_traffic_began(local_settings: Settings) -> None:
    """A deploy takes minutes and its traffic split applies only when it is done: the calls since
    its deployment began were the champion's until then. They are not held against the canary
    (counted from its first answer); a canary that never answers owes its share of the calls from
    an hour after its deployment began (canary_apply.DEPLOY_ALLOWANCE)."""
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    deploying_at = [start + timedelta(seconds=2 * i) for i in range(900)]  # 30 min
    serving = start + timedelta(minutes=30)
    serving_at = [serving + timedelta(seconds=i) for i in range(1000)]
    deploying = [_row(f"d{i}", "1", at) for i, at in enumerate(deploying_at)]
    split = [_row(f"s{i}", "2" if i % 10 == 0 else "1", at) for i, at in enumerate(serving_at)]
    # then 10 % of the calls the canary's, healthy; the same version answered, in an earlier
    # deployment, before this one began: not where its traffic began this time
    earlier = [_row(f"e{i}", "2", start - timedelta(minutes=30, seconds=-i)) for i in range(5)]
    warehouse = targets.warehouse(local_settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(earlier + deploying + split))
    append_staged(warehouse, local_settings)
    sql = render_sql("86_canary_window.sql", local_settings, **canary_sql_values("1", "2", start))
    rows = [tuple(r) for r in warehouse.records(sql)]
    evidence, decision = decide_from_rows(
        rows, "1", "2", policy_from(None), now=serving + timedelta(hours=1), canary_traffic_percent=10
    )
    assert (evidence.window.endpoint_requests, evidence.window.canary_calls) == (1900, 1000)
    assert evidence.canary.requests == 105  # the window reads from an hour before the deployment
    assert decision.verdict is not Verdict.ROLLBACK, decision.reasons

    # the same calls, the canary answering none of them: it owes 10 % of those from an hour on
    calls_at = [
        *deploying_at,
        *serving_at,
        *(serving + timedelta(minutes=20, seconds=i) for i in range(1200)),
    ]
    silent = [_row(f"q{i}", "1", at) for i, at in enumerate(calls_at)]
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(silent))
    warehouse.execute(f"DELETE FROM `{local_settings.dataset}.prediction_log`")
    append_staged(warehouse, local_settings)
    rows = [tuple(r) for r in warehouse.records(sql)]
    evidence, decision = decide_from_rows(
        rows, "1", "2", policy_from(None), now=serving + timedelta(hours=1), canary_traffic_percent=10
    )
    since_allowance = sum(1 for at in calls_at if at >= start + timedelta(hours=1))
    assert evidence.window.canary_calls == since_allowance > 500
    assert decision.verdict is Verdict.ROLLBACK
    assert decision.reasons == (
        f"answered 0 of the {since_allowance} model calls since its traffic began, where its 10 % of the "
        f"traffic gives ~{since_allowance / 10:.0f}: its calls fail where the log does not name it "
        "(retried onto the champion, or answered unavailable)",
    )
