"""The automated canary on the real local stack: the real prediction function logs real traffic
(with shadow scores), the real scheduler runs ``fraud_monitoring``, and its canary task rolls a
bad canary back (it flags every transaction) and promotes an identical one."""

from __future__ import annotations

import json
import random
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devtools.demo.monitoring import run_monitoring, unpause_and_settle
from devtools.function_server import start_function_server
from fraud_mlops.pseudonym import ensure_local_keys, local_kms_dir
from fraud_mlops.registry.base import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ModelVersion
from fraud_mlops.registry.local_endpoint import LocalEndpoint, endpoint_path, read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from tests.serving.helpers import ServingWorld, build_world

pytestmark = [pytest.mark.stack, pytest.mark.slow]

DAG = "fraud_monitoring"
MODEL = "fraud-detector"
# Evidence enough for a test's few hundred requests; the p99 ratio is relaxed because both
# models run in the same two workers on a shared two-core box, where p99 of ~100 requests is noise.
POLICY = {"min_requests": 40, "min_requests_for_rollback": 20, "min_elapsed_seconds": 0,
          "min_shadow_pairs": 20, "max_p99_latency_ratio": 5.0}  # fmt: skip


@pytest.fixture(scope="module")
def rollout(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    local_dir = local_stack.settings.local_dir
    # the world's cards are pseudonymised with the stack's keyset, which the function unwraps
    ensure_local_keys(local_dir)
    world_dir = tmp_path_factory.mktemp("canary_world") / "local"
    shutil.copytree(local_kms_dir(local_dir), local_kms_dir(world_dir))
    world = build_world(world_dir)
    store = local_dir / "online_store"
    store.mkdir(parents=True, exist_ok=True)
    for path in world.store_path.parent.iterdir():
        shutil.copy2(path, store / path.name)
    registry = LocalModelRegistry(local_stack.settings.registry_dir)
    endpoint = LocalEndpoint(endpoint_path(local_dir))
    champion = _register(registry, world, threshold=world.thresholds["1"], aliases=[CHAMPION])
    endpoint.deploy_canary(champion, world.thresholds["1"], None, 100)
    local_stack.api.wait_for_dags([DAG])
    unpause_and_settle(local_stack.api, DAG)  # its scheduled first run sees no canary yet
    return {
        "world": world,
        "registry": registry,
        "endpoint": endpoint,
        "champion": champion,
        "stack": local_stack,
    }


def _register(
    registry: LocalModelRegistry, world: ServingWorld, threshold: float, aliases: list[str]
) -> ModelVersion:
    return registry.register(MODEL, world.model_dirs["1"], str(world.model_dirs["1"]), labels={},
                             metadata={"threshold": threshold}, aliases=aliases)  # fmt: skip


def _traffic(world: ServingWorld, local_dir: Path, requests: int = 400) -> dict[str, int]:
    """Real requests through the real function (shadow rate 1); returns answers per model version."""
    env = {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(local_dir),
           "MLOPS_SHADOW_RATE": "1"}  # fmt: skip
    answered: dict[str, int] = {}
    rng = random.Random(7)
    with start_function_server(env=env, log_path=local_dir / "canary_function.log") as server:
        for _ in range(requests):
            body = json.dumps({"card_number": rng.choice(world.cards)}).encode()
            request = urllib.request.Request(server.url, data=body, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                version = json.loads(response.read())["model"]["version"]
            answered[version] = answered.get(version, 0) + 1
    return answered  # stopping the server flushed every worker's prediction log


def _monitor(stack: Any) -> dict[str, Any]:
    run_id, run = run_monitoring(stack.api, {"canary_policy": POLICY, "current_hours": 1})
    states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG, run_id)}
    assert run["state"] == "success", states
    return dict(stack.api.xcom(DAG, run_id, "apply_canary_decision"))


def _split(endpoint: LocalEndpoint) -> dict[str, int]:
    return {m.model_version: m.traffic_percent for m in read_endpoint(endpoint.path).deployed_models}


def test_a_canary_that_flags_everything_is_rolled_back(rollout: dict[str, Any]) -> None:
    world, registry, endpoint, champion = (rollout[k] for k in ("world", "registry", "endpoint", "champion"))
    local_dir = rollout["stack"].settings.local_dir
    bad = _register(registry, world, threshold=0.0, aliases=[CHALLENGER])  # every score ≥ 0: all "fraud"
    endpoint.deploy_canary(bad, 0.0, champion, 30)
    answered = _traffic(world, local_dir)
    assert answered.get(bad.version, 0) > 40, answered

    outcome = _monitor(rollout["stack"])

    assert outcome["verdict"] == "ROLLBACK", outcome
    assert any("alert rate 100.00%" in r for r in outcome["reasons"]), outcome["reasons"]
    assert any("shadow decisions disagree" in r for r in outcome["reasons"]), outcome["reasons"]
    assert _split(endpoint) == {champion.version: 100}, "the champion keeps serving, alone"
    assert registry.get(MODEL, CHAMPION).version == champion.version
    assert registry.get(MODEL, CHALLENGER) is None
    alerts = [json.loads(x) for x in (local_dir / "alerts" / "alerts.jsonl").read_text().splitlines()]
    rollbacks = [a for a in alerts if a["kind"] == "canary_rollback"]
    assert len(rollbacks) == 1 and f"v{bad.version} rolled back" in rollbacks[0]["summary"]


def test_an_identical_canary_is_promoted(rollout: dict[str, Any]) -> None:
    world, registry, endpoint, champion = (rollout[k] for k in ("world", "registry", "endpoint", "champion"))
    local_dir = rollout["stack"].settings.local_dir
    same = _register(registry, world, threshold=world.thresholds["1"], aliases=[CHALLENGER])
    endpoint.deploy_canary(same, world.thresholds["1"], champion, 30)
    _traffic(world, local_dir)

    outcome = _monitor(rollout["stack"])

    assert outcome["verdict"] == "PROMOTE", outcome
    assert outcome["evidence"]["window"]["shadow_mean_abs_diff"] == pytest.approx(0.0, abs=1e-6)
    assert _split(endpoint) == {same.version: 100}
    assert registry.get(MODEL, CHAMPION).version == same.version
    assert registry.get(MODEL, PREVIOUS_CHAMPION).version == champion.version
