"""Component ``decide_gate``: absolute bars first, then "no worse than the champion"."""

from __future__ import annotations

import json
from typing import Any

from include.pipelines.components.decide_gate import decide_gate

from .conftest import GATE_ARGS


def test_a_first_model_clearing_the_bars_is_deployed(evaluation: Any) -> None:
    gate = decide_gate.python_func(
        metrics_json=evaluation.metrics_json, has_champion=False, champion_metrics_json="{}",
        champion_version="", **GATE_ARGS,
    )  # fmt: skip
    assert gate.decision == "deploy", gate.reason
    assert gate.pipeline_run == GATE_ARGS["pipeline_run"]


def test_a_challenger_worse_than_the_champion_is_rejected(evaluation: Any) -> None:
    weaker = json.dumps({**json.loads(evaluation.metrics_json), "pr_auc": evaluation.pr_auc - 0.01})
    gate = decide_gate.python_func(
        metrics_json=weaker, has_champion=True, champion_metrics_json=evaluation.metrics_json,
        champion_version="1", **GATE_ARGS,
    )  # fmt: skip
    assert gate.decision == "reject" and "champion 1" in gate.reason
