"""Traffic rules of a canary rollout, shared by the local endpoint and the Vertex endpoint.

* No champion serving yet (first deploy) → the new model takes 100 %.
* Otherwise → the new model takes ``canary_percent``, the champion the rest, and any earlier
  canary is undeployed (one challenger at a time keeps the comparison readable).
* Promotion → the promoted model takes 100 %, everything else is undeployed.
"""

from __future__ import annotations


def canary_split(new_id: str, champion_id: str | None, canary_percent: int) -> dict[str, int]:
    """Deployed-model id → traffic percent after deploying ``new_id`` beside the champion."""
    if not 0 <= canary_percent <= 100:
        raise ValueError(f"canary_percent must be within 0..100, got {canary_percent}")
    if champion_id is None or champion_id == new_id or canary_percent == 100:
        return {new_id: 100}
    return {new_id: canary_percent, champion_id: 100 - canary_percent}


def promote_split(promoted_id: str) -> dict[str, int]:
    return {promoted_id: 100}
