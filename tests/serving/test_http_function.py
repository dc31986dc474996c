"""The function over real HTTP (functions-framework + gunicorn): validation, logs, auth, swaps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devtools.demo.serving import post_json
from devtools.function_server import FunctionServer, start_function_server
from fraud_mlops.pseudonym import luhn_complete
from fraud_mlops.settings import REPO_ROOT

from .helpers import ServingWorld

VALID = luhn_complete("411111111111111")  # 4111111111111111


def _raw_post(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


CASES: list[tuple[str, Any, int, str | None]] = [
    # (case, body, expected status, expected error code)
    ("valid, digits only", "{card}", 200, None),
    ("valid, with spaces", "{spaced}", 200, None),
    ("valid, with dashes", "{dashed}", 200, None),
    ("letters", "4111-abcd-1111-1111", 400, "invalid_card_number"),
    ("too short (11 digits)", luhn_complete("4242424242"), 400, "invalid_card_number"),
    ("too long (20 digits)", luhn_complete("4" * 19), 400, "invalid_card_number"),
    ("bad Luhn", "4111111111111112", 400, "invalid_card_number"),
    ("unicode digits", "４１１１１１１１１１１１１１１１", 400, "invalid_card_number"),
    ("number, not string", 4111111111111111, 400, "invalid_card_number"),
    ("empty string", "", 400, "invalid_card_number"),
]


@pytest.mark.parametrize(("case", "card", "status", "error"), CASES, ids=[c[0] for c in CASES])
def test_card_number_validation(
    world: ServingWorld, server: FunctionServer, case: str, card: Any, status: int, error: str | None
) -> None:
    world.deploy({"1": 100})
    known = world.cards[0]
    if isinstance(card, str):
        card = card.format(
            card=known,
            spaced=" ".join(known[i : i + 4] for i in range(0, 16, 4)),
            dashed="-".join(known[i : i + 4] for i in range(0, 16, 4)),
        )
    got_status, body = post_json(server.url, {"card_number": card})
    assert got_status == status, body
    assert body.get("error") == error
    if error:
        assert set(body) == {"error", "message", "request_id"}
        assert not card or str(card) not in body["message"]


BODIES: list[tuple[str, bytes, int, str]] = [
    ("missing card_number", b'{"amount": 12.5}', 400, "missing_card_number"),
    ("wrong JSON", b'{"card_number": "4111111111111111"', 400, "invalid_json"),
    ("JSON array", b'["4111111111111111"]', 400, "invalid_json"),
    ("empty body", b"", 400, "empty_body"),
    ("not UTF-8", b'{"card_number": "\xff\xfe"}', 400, "invalid_json"),
    ("unknown field", b'{"card_number": "4111111111111111", "cvv": "123"}', 400, "unknown_fields"),
    ("amount as text", b'{"card_number": "4111111111111111", "amount": "12"}', 400, "invalid_field"),
    ("amount as bool", b'{"card_number": "4111111111111111", "amount": true}', 400, "invalid_field"),
    ("negative amount", b'{"card_number": "4111111111111111", "amount": -1}', 400, "invalid_field"),
    ("NaN amount", b'{"card_number": "4111111111111111", "amount": NaN}', 400, "invalid_field"),
    # past what Decimal's default 28 digits round to 9 places: still a 400, not a 500
    ("huge amount", b'{"card_number": "4111111111111111", "amount": 1e19}', 400, "invalid_field"),
    ("largest float amount", b'{"card_number": "4111111111111111", "amount": 1.7976931348623157e308}',
     400, "invalid_field"),
    # past FLOAT64's range, as an exponent and as digits; and past the digits Python reads
    ("amount 1e400", b'{"card_number": "4111111111111111", "amount": 1e400}', 400, "invalid_field"),
    ("amount of 400 digits", b'{"card_number": "4111111111111111", "amount": 1' + b"0" * 400 + b"}",
     400, "invalid_field"),
    ("amount of 5000 digits", b'{"card_number": "4111111111111111", "amount": ' + b"9" * 5000 + b"}",
     400, "invalid_json"),
    ("exponent past Decimal's", b'{"card_number": "4111111111111111", "amount": 1e99999999999999999999}',
     400, "invalid_json"),
    ("tiny exponent in an unknown field", b'{"card_number": "4111111111111111", "x": 1E-10000000000000000000}',
     400, "invalid_json"),
    ("v1 of 400 digits", b'{"card_number": "4111111111111111", "v1": 1' + b"0" * 400 + b".5}",
     400, "invalid_field"),
    ("naive time", b'{"card_number": "4111111111111111", "transaction_time": "2026-01-01T00:00:00"}',
     400, "invalid_field"),
    ("deep nesting", b"{\"card_number\": " + b"[" * 5000 + b"]" * 5000 + b"}", 400, "invalid_json"),
    ("huge body", b'{"card_number": "4111111111111111", "pad": "' + b"x" * 1_000_000 + b'"}',
     413, "body_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "status", "error"), BODIES, ids=[b[0] for b in BODIES])
def test_malformed_bodies_get_a_json_4xx(
    server: FunctionServer, case: str, data: bytes, status: int, error: str
) -> None:
    got_status, body = _raw_post(server.url, data, {"Content-Type": "application/json"})
    assert (got_status, body["error"]) == (status, error)
    assert body["request_id"]


def test_get_is_405_with_json(server: FunctionServer) -> None:
    try:
        urllib.request.urlopen(server.url, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 405
        assert json.loads(error.read())["error"] == "method_not_allowed"
    else:
        pytest.fail("GET must be refused")


def test_response_says_which_model_answered_and_echoes_the_request_id(
    world: ServingWorld, server: FunctionServer
) -> None:
    world.deploy({"2": 100})
    card = world.cards[7]
    status, body = _raw_post(
        server.url, json.dumps({"card_number": card}).encode(), {"X-Request-Id": "abc-123"}
    )
    assert status == 200
    assert body["request_id"] == "abc-123"
    assert body["model"]["version"] == "2"
    assert body["fraud_probability"] == round(world.expected_probability("2", card), 6)


def test_model_swap_is_served_without_a_restart(world: ServingWorld, server: FunctionServer) -> None:
    card = world.cards[1]
    world.deploy({"1": 100})
    assert {post_json(server.url, {"card_number": card})[1]["model"]["version"] for _ in range(10)} == {"1"}
    pid = server.process.pid

    world.deploy({"2": 100})  # what training's promote step writes
    answers = [post_json(server.url, {"card_number": card})[1] for _ in range(10)]

    assert {a["model"]["version"] for a in answers} == {"2"}
    assert {a["fraud_probability"] for a in answers} == {round(world.expected_probability("2", card), 6)}
    assert server.process.pid == pid and server.process.poll() is None

    world.deploy({})  # everything undeployed
    status, body = post_json(server.url, {"card_number": card})
    assert (status, body["error"]) == (503, "no_model_deployed")
    world.deploy({"1": 100})


def test_logs_are_structured_and_never_hold_card_numbers(
    world: ServingWorld, server: FunctionServer, server_log: Path
) -> None:
    world.deploy({"1": 100})
    secret_cards = [world.cards[9], "4111111111111112", "4111-abcd-1111-1111"]
    for card in secret_cards:
        post_json(server.url, {"card_number": card})
    post_json(server.url, {"card_number": " ".join(world.cards[9][i : i + 4] for i in range(0, 16, 4))})
    # a caller correlating its requests by card number: the id is replaced, not echoed or logged,
    # whatever the form the id's characters allow; a uuid or an id of fewer than 12 digits is echoed
    grouped = [world.cards[9][i : i + 4] for i in range(0, 16, 4)]
    for header_id, echoed in (
        (world.cards[9], False),
        (f"order-{world.cards[9]}", False),
        (".".join(grouped), False),
        ("_".join(grouped), False),
        ("a".join(grouped), False),  # letters between the groups
        (f"{world.cards[9]}-1", False),  # a card inside a longer run of digits
        (f"7{'.'.join(grouped)}", False),  # a digit beside the first group
        ("4b61fcc3-3ee4-4ddc-a921-f90a936fa861", True),
        ("4b61fcc33ee44ddca921f90a936fa861", True),  # the function's own form (uuid4().hex)
        (f"{world.cards[9][:8]}-{world.cards[9][8:12]}-{world.cards[9][12:]}-abcd-abcdefabcdef", False),
        ("00000000-0000-0000-4111-111111111111", False),  # 12 digits in a row, dashes out
        ("order-12345-b", True),
        ("req-20261207-093638-0001", False),  # 18 digits: it could be a card and more
    ):
        status, body = _raw_post(
            server.url, json.dumps({"card_number": world.cards[3]}).encode(), {"X-Request-Id": header_id}
        )
        assert status == 200, body
        assert (
            body["request_id"] == header_id if echoed else re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
        )

    text = server_log.read_text()
    for card in secret_cards:
        assert card not in text
        assert card.replace("-", "") not in text
    # nor its digits with whatever stood between them, on any line
    assert not [line for line in text.splitlines() if world.cards[9] in re.sub(r"\D", "", line)]
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert entries, "the function must log one JSON line per request"
    ok = [e for e in entries if e["status"] == 200]
    assert ok and all(e["severity"] == "INFO" for e in ok)
    assert all({"latency_ms", "model_version", "deployed_model_id", "request_id"} <= set(e) for e in ok)
    assert all(e["httpRequest"]["latency"].endswith("s") for e in entries)
    assert any(e.get("error") == "invalid_card_number" for e in entries)


def test_bearer_token_is_enforced_when_configured(world: ServingWorld, tmp_path: Path) -> None:
    world.deploy({"1": 100})
    env = {**world.env(), "MLOPS_FUNCTION_TOKEN": "s3cret-token"}
    with start_function_server(env=env, workers=1, threads=2) as guarded:
        payload = {"card_number": world.cards[0]}
        assert post_json(guarded.url, payload)[0] == 401
        assert post_json(guarded.url, payload, token="wrong")[0] == 401
        status, body = post_json(guarded.url, payload, token="s3cret-token")
        assert status == 200, body
    assert os.environ.get("MLOPS_FUNCTION_TOKEN") is None


NO_AIRFLOW = """
import importlib.abc, sys

class NoAirflow(importlib.abc.MetaPathFinder):
    # Cloud Functions installs functions/predict/requirements.txt: no Airflow there.
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name}: Airflow is not installed in the prediction function")
        return None

sys.meta_path.insert(0, NoAirflow())
from fraud_mlops.serving.http import build_service
service = build_service()
print(type(service.features).__name__, type(service.model).__name__)
"""


@pytest.mark.parametrize(
    ("target", "reader", "model"),
    [
        ("local", "LocalOnlineStore", "LocalEndpointClient"),
        ("gcp", "VertexOnlineStore", "VertexEndpointClient"),
    ],
)
def test_the_function_is_wired_without_airflow(target: str, reader: str, model: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MLOPS_TARGET": target,
        "MLOPS_LOCAL_DIR": str(tmp_path),
        "GCP_PROJECT": "fraud-prj",
        "MLOPS_ENDPOINT_ID": "1234",  # gcp: no endpoint lookup by name (that would call Vertex)
        "PYTHONPATH": str(REPO_ROOT / "plugins"),
    }
    done = subprocess.run(
        [sys.executable, "-c", NO_AIRFLOW], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [reader, model]
