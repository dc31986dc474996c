"""Shadow scoring: the canary scores a sample of the champion's requests; its answer is only logged.

Local endpoint only: the client holds every deployed model in process, so scoring the same
vector with the other model costs one in-memory predict (run by the prediction log's
background thread, off the request path). On Vertex a deployed model cannot be addressed
directly through the endpoint's ``predict``; there the canary's comparison rests on its own
traffic share (docs/monitoring.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from fraud_mlops.registry.endpoint_client import LocalEndpointClient, ModelAnswer, ModelFailed

ShadowScorer = Callable[[str, Sequence[float]], list[ModelAnswer]]


def shadow_scorer(client: Any, rate: float, rng: random.Random | None = None) -> ShadowScorer | None:
    """For a client that can, a function ``(answered version, vector) → canary answers``.

    Only requests the champion (the model with the most traffic) answered are shadowed, with
    probability ``rate``; None when shadowing is impossible or switched off (``rate`` 0).
    """
    if not isinstance(client, LocalEndpointClient) or rate <= 0:
        return None
    draw = rng or random.Random()

    def score(answered_version: str, row: Sequence[float]) -> list[ModelAnswer]:
        view = client.current()
        if len(view.models) < 2:
            return []
        champion = max(view.models, key=lambda m: m.traffic_percent)
        if answered_version != champion.model_version or draw.random() >= rate:
            return []
        answers = []
        for served in view.models:
            if served is champion:
                continue
            try:
                answers.append(served.answer(row))
            except ModelFailed:  # the canary's own traffic shows its failures, named
                continue
        return answers

    return score
