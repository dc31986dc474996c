"""Batch scoring: every card's latest features, scored by the champion, into ``card_predictions``.

The model is never loaded here: the scoring itself is a batch prediction with the model server
(:mod:`fraud_mlops.registry.batch_prediction`, chosen by :func:`fraud_mlops.targets.batch_prediction`),
between two SQL steps (``include/sql/81_batch_prediction_input.sql`` and
``80_card_predictions.sql``); :mod:`fraud_mlops.orchestration.scoring` wires the tasks. This
module keeps the names the rest of the code and the docs use.
"""

from __future__ import annotations

from fraud_mlops.features import BATCH_INPUT_TABLE, BATCH_OUTPUT_TABLE
from fraud_mlops.registry.batch_prediction import NoChampion

PREDICTIONS_TABLE = "card_predictions"

__all__ = ["BATCH_INPUT_TABLE", "BATCH_OUTPUT_TABLE", "PREDICTIONS_TABLE", "NoChampion"]
