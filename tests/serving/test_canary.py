"""The local endpoint honours its traffic split: a canary gets its share of real requests."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from devtools.demo.serving import post_json
from devtools.function_server import FunctionServer

from .helpers import ServingWorld

REQUESTS = 1500
CANARY_PERCENT = 20


def test_canary_split_is_observed_within_statistical_bounds(
    world: ServingWorld, server: FunctionServer
) -> None:
    world.deploy({"1": 100 - CANARY_PERCENT, "2": CANARY_PERCENT})  # champion v1, canary v2
    cards = [world.cards[i % len(world.cards)] for i in range(REQUESTS)]

    def ask(card: str) -> tuple[str, float]:
        status, body = post_json(server.url, {"card_number": card})
        assert status == 200, body
        return body["model"]["version"], body["fraud_probability"]

    with ThreadPoolExecutor(max_workers=8) as pool:  # both gunicorn workers take requests
        answers = list(pool.map(ask, cards))

    counts = Counter(version for version, _ in answers)
    assert set(counts) == {"1", "2"}
    p = CANARY_PERCENT / 100
    mean, sd = REQUESTS * p, math.sqrt(REQUESTS * p * (1 - p))
    assert abs(counts["2"] - mean) <= 5 * sd, f"canary answered {counts['2']} of {REQUESTS}"
    # every answer is the answering model's own score for that card
    for card, (version, probability) in zip(cards, answers, strict=True):
        assert probability == round(world.expected_probability(version, card), 6)
    world.deploy({"1": 100})
