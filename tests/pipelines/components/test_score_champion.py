"""Component ``score_champion``: the serving champion scored on the challenger's test rows."""

from __future__ import annotations

from typing import Any

import pytest

from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings
from include.pipelines.components.score_champion import score_champion


def test_without_a_champion_there_is_nothing_to_compare(trained: dict, local_settings: Settings) -> None:
    champion = score_champion.python_func(
        test=trained["splits"]["test"], registry_uri=str(local_settings.registry_dir), model_name=MODEL_NAME
    )
    assert champion.has_champion is False and champion.version == ""


def test_the_champion_is_scored_on_the_same_rows(trained: dict, evaluation: Any, champion_v1: dict) -> None:
    champion = score_champion.python_func(
        test=trained["splits"]["test"], registry_uri=champion_v1["registry_uri"], model_name=MODEL_NAME
    )
    assert champion.has_champion and champion.version == "1"
    assert champion.pr_auc == pytest.approx(evaluation.pr_auc)
