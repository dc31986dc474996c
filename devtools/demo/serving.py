"""The end of ``make demo``: start the function, send real requests, print the answers, stop.

Three cases show the contract: a card the pipeline ingested gets a score from the deployed
model (with its version and deployed model id), a valid card nobody has seen gets the defined
404, and malformed input gets a 400, never a 500. The card number itself is never printed.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from devtools.function_server import start_function_server
from fraud_mlops.settings import get_settings

UNSEEN_CARD = "4000 0000 0000 0002"  # Luhn-valid test number; the generator never issues it


def post_json(url: str, payload: Any, token: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def demo_cases(known_card_number: str) -> list[tuple[str, Any]]:
    return [
        ("known card", {"card_number": known_card_number}),
        ("known card, a new transaction", {"card_number": known_card_number, "amount": 4999.0,
                                           "merchant": "Demo Electronics",
                                           "transaction_time": "2026-11-22T03:12:00Z"}),
        ("unknown card", {"card_number": UNSEEN_CARD}),
        ("invalid: bad Luhn digit", {"card_number": "4111 1111 1111 1112"}),
        ("invalid: letters", {"card_number": "4111-abcd-1111-1111"}),
        ("invalid: not JSON", b"card_number=4111111111111111"),
    ]  # fmt: skip


def summarise(case: str, status: int, body: Any) -> str:
    if status == 200:
        model = body["model"]
        return (
            f"{case:<32} {status}  P(fraud)={body['fraud_probability']:.4f} -> {body['decision']} "
            f"(threshold {body['threshold']:.3f}, model {model['name']} v{model['version']}, "
            f"deployed {model['deployed_model_id']}, features of {body['features']['timestamp']})"
        )
    return f"{case:<32} {status}  {body.get('error')}: {body.get('message')}"


def run_demo_requests(known_card_number: str, port: int | None = None) -> list[dict[str, Any]]:
    """Start the function on ``port`` (default ``MLOPS_FUNCTION_PORT`` or a free one), send the
    demo requests, print one line per answer, stop the function; return the answers."""
    env = {"MLOPS_LOCAL_DIR": str(get_settings().local_dir)}  # the function unwraps the local keyset
    token = os.environ.get("MLOPS_FUNCTION_TOKEN")
    answers: list[dict[str, Any]] = []
    with start_function_server(port=port, env=env) as server:
        print(f"prediction function on {server.url} (functions-framework, gunicorn)")
        for case, payload in demo_cases(known_card_number):
            status, body = post_json(server.url, payload, token=token)
            answers.append({"case": case, "status": status, "body": body})
            print("  " + summarise(case, status, body))
    return answers
