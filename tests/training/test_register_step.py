"""Registration waits for a canary verdict under way (the monitoring DAG's promotion or rollback).

The pipeline registers outside any Airflow pool or lease, and the canary task marks the canary
(``canary-promoting``, ``canary-rolling-back``) while it moves traffic and aliases. Registering
then moved the ``challenger`` alias off the canary being judged, and the deploy after it read a
champion the promotion was replacing. The local registry for real; Vertex's Model Registry
client mocked at its boundary with the exact ``GetModel`` requests asserted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1

from fraud_mlops.registry.artifact import MODEL_FILE, write_metadata
from fraud_mlops.registry.base import CHALLENGER, CHAMPION, PROMOTING, ROLLING_BACK
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.registry.vertex import VertexModelRegistry
from fraud_mlops.training.steps import (
    VerdictUnderWay,
    register_step,
    score_champion_step,
    wait_for_canary_verdict,
)
from tests.vertex_registry import LookupRetry, answer_aliases

MODEL = "fraud-detector"
PARENT = "projects/fraud-prj/locations/europe-west4/models/fraud-detector"


def _trained(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(folder.name.encode())
    write_metadata(folder, {"model_type": "logistic_regression"})
    return folder


def _registry(tmp_path: Path) -> LocalModelRegistry:
    """v1 champion, v2 its canary."""
    registry = LocalModelRegistry(tmp_path / "registry")
    for name, alias in (("v1", CHAMPION), ("v2", CHALLENGER)):
        registry.register(
            MODEL, _trained(tmp_path / name), str(tmp_path / name), labels={}, metadata={}, aliases=[alias]
        )
    return registry


def _register(tmp_path: Path, registry: LocalModelRegistry, wait: float) -> dict:
    return register_step(
        _trained(tmp_path / "v3"), tmp_path / "registered", str(tmp_path / "registered"), str(registry.root),
        MODEL, snapshot="training_snapshot_x", pipeline_run="run-3", threshold=0.4,
        metrics={"pr_auc": 0.8}, gate_reason="passed", verdict_wait_seconds=wait,
    )  # fmt: skip


def test_a_registration_during_a_verdict_registers_nothing_when_the_wait_runs_out(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    registry.set_alias(MODEL, ROLLING_BACK, "2")  # the canary task is rolling v2 back

    with pytest.raises(VerdictUnderWay, match=r"canary-rolling-back on v2.*fraud_monitoring"):
        _register(tmp_path, registry, wait=0)

    assert registry.get(MODEL, CHALLENGER).version == "2"  # the canary being judged keeps its alias
    assert registry.get(MODEL, "3") is None


def test_registration_goes_on_once_the_verdict_is_carried_out(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    registry.set_alias(MODEL, PROMOTING, "2")
    slept: list[float] = []

    def canary_task_finishes(seconds: float) -> None:  # the promotion, as canary_apply does it
        slept.append(seconds)
        registry.set_alias(MODEL, CHAMPION, "2")
        registry.remove_alias(MODEL, CHALLENGER, "2")
        registry.remove_alias(MODEL, PROMOTING, "2")

    wait_for_canary_verdict(registry, MODEL, timeout=60, poll=7, sleep=canary_task_finishes)
    assert slept == [7]
    result = _register(tmp_path, registry, wait=0)

    # the new version is the canary of the champion the promotion made
    assert result["model_version"] == "3" and result["aliases"] == [CHALLENGER]
    assert registry.get(MODEL, CHAMPION).version == "2"


def test_on_vertex_the_wait_reads_both_marks_by_alias() -> None:
    client = mock.create_autospec(v1.ModelServiceClient, instance=True)
    aliases = {CHAMPION: "1", CHALLENGER: "3", ROLLING_BACK: "3"}
    answer_aliases(client, PARENT, aliases, "gs://fraud-prj-models/m{}")
    client.list_models.return_value = [v1.Model(name=PARENT)]  # the model, found by display name
    registry = VertexModelRegistry("fraud-prj", "europe-west4", client=client, serving_image="img")

    def rolled_back(seconds: float) -> None:
        del aliases[ROLLING_BACK]

    wait_for_canary_verdict(registry, MODEL, timeout=60, poll=1, sleep=rolled_back)

    assert [c.kwargs for c in client.get_model.call_args_list] == [
        {"name": f"{PARENT}@{mark}", "retry": LookupRetry()} for mark in (PROMOTING, ROLLING_BACK)
    ] * 2
    client.list_models.assert_called_once()  # the model is found once, not before every read


def test_the_champion_is_scored_for_the_gate_after_a_verdict_under_way(tmp_path: Path, monkeypatch) -> None:
    """The gate compares with the champion a promotion makes (v2), not the one it replaces (v1)."""
    import functools
    from types import SimpleNamespace

    import pandas as pd

    from fraud_mlops.training import steps

    registry = _registry(tmp_path)
    registry.set_alias(MODEL, PROMOTING, "2")

    def promotion_finishes(seconds: float) -> None:
        registry.set_alias(MODEL, CHAMPION, "2")
        registry.remove_alias(MODEL, CHALLENGER, "2")
        registry.remove_alias(MODEL, PROMOTING, "2")

    monkeypatch.setattr(
        steps, "wait_for_canary_verdict", functools.partial(wait_for_canary_verdict, sleep=promotion_finishes)
    )
    scored: list[Path] = []
    monkeypatch.setattr(  # the scoring itself is train_evaluate's to test
        steps,
        "_evaluate_dir",
        lambda model_dir, *_: scored.append(model_dir) or SimpleNamespace(scalars=dict),
    )
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "test.parquet")

    result = score_champion_step(tmp_path / "test.parquet", str(registry.root), MODEL)

    assert result["has_champion"] and result["version"] == "2"
    assert scored == [registry.get(MODEL, "2").local_dir()]
    with pytest.raises(VerdictUnderWay, match="canary-promoting on v2"):  # the wait ran out
        registry.set_alias(MODEL, PROMOTING, "2")
        score_champion_step(tmp_path / "test.parquet", str(registry.root), MODEL, verdict_wait_seconds=0)


def test_a_registry_that_does_not_answer_for_a_moment_is_asked_again() -> None:
    """A read that did not answer (its retries ran out, a deadline, a 503) fails no pipeline in
    a wait of minutes: the next poll asks again."""
    answers: list[Any] = [
        exceptions.RetryError("Timeout of 120.0s exceeded", cause=exceptions.ServiceUnavailable("down")),
        exceptions.DeadlineExceeded("slow"),
        None,
        None,
    ]
    registry = mock.Mock()
    registry.get.side_effect = lambda model_name, alias: _answer(answers.pop(0))
    slept: list[float] = []

    wait_for_canary_verdict(registry, MODEL, timeout=60, poll=5, sleep=slept.append)

    assert slept == [5, 5] and answers == []
    registry.get.side_effect = exceptions.PermissionDenied("aiplatform.models.get")
    with pytest.raises(exceptions.PermissionDenied):  # a refusal is no moment's silence
        wait_for_canary_verdict(registry, MODEL, timeout=60, poll=5, sleep=slept.append)
    # a registry that never answers: its error at the end, not a verdict said to be under way
    registry.get.side_effect = exceptions.ServiceUnavailable("down")
    with pytest.raises(exceptions.ServiceUnavailable):
        wait_for_canary_verdict(registry, MODEL, timeout=0, poll=5, sleep=slept.append)
    # a verdict seen under way, then a read that fails as the wait ends: the verdict is what to see
    marked = mock.Mock(version="2")
    answers = [marked, None, exceptions.ServiceUnavailable("blip")]
    registry.get.side_effect = lambda model_name, alias: _answer(answers.pop(0))
    clock = iter([0.0, 0.0, 100.0])
    with pytest.raises(
        VerdictUnderWay, match=r"canary-promoting on v2.*last read failed: ServiceUnavailable"
    ):
        wait_for_canary_verdict(
            registry, MODEL, timeout=60, poll=5, sleep=slept.append, clock=lambda: next(clock)
        )


def test_on_vertex_a_503_is_retried_within_the_read(monkeypatch) -> None:
    """The registry's read carries its retry into the GAPIC call, whose wrapper (api-core's
    ``wrap_method``, as the generated transport builds it) runs it: the wait sees an answer."""
    from google.api_core import gapic_v1
    from google.api_core.retry import retry_unary

    client = mock.create_autospec(v1.ModelServiceClient, instance=True)
    client.list_models.return_value = [v1.Model(name=PARENT)]
    answers: list[Any] = [exceptions.ServiceUnavailable("restarting"), exceptions.NotFound("no alias")] * 2
    wire = gapic_v1.method.wrap_method(lambda name, metadata: _answer(answers.pop(0)), default_timeout=None)
    client.get_model.side_effect = lambda name, retry: wire(name, retry=retry)
    slept: list[float] = []
    monkeypatch.setattr(retry_unary.time, "sleep", slept.append)  # the retry's backoff
    registry = VertexModelRegistry("fraud-prj", "europe-west4", client=client, serving_image="img")

    wait_for_canary_verdict(registry, MODEL, timeout=60, poll=5, sleep=pytest.fail)

    assert answers == [] and len(slept) == 2  # one backoff per mark read, no poll


def _answer(answer: Any) -> Any:
    if isinstance(answer, Exception):
        raise answer
    return answer
