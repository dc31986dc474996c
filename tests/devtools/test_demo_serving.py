"""The end of ``make demo``: real requests against the started function, defined answers."""

from __future__ import annotations

import pytest

from devtools.demo.serving import run_demo_requests
from devtools.function_server import free_port
from fraud_mlops.settings import get_settings
from tests.serving.helpers import ServingWorld


def test_demo_requests_get_a_score_a_404_and_400s(
    world: ServingWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    world.deploy({"1": 90, "2": 10})
    port = free_port()

    answers = run_demo_requests(world.cards[2], port=port)

    assert [a["status"] for a in answers] == [200, 200, 404, 400, 400, 400]
    known = answers[0]["body"]
    assert known["model"]["version"] in {"1", "2"}
    assert known["fraud_probability"] == round(
        world.expected_probability(known["model"]["version"], world.cards[2]), 6
    )
    assert answers[2]["body"]["error"] == "unknown_card"
    printed = capsys.readouterr().out
    assert f"127.0.0.1:{port}" in printed
    assert "P(fraud)=" in printed and "unknown_card" in printed and "invalid_card_number" in printed
    assert world.cards[2] not in printed
    world.deploy({"1": 100})
    get_settings.cache_clear()
