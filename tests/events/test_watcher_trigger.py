"""The landing watcher's trigger as the triggerer runs it (``async for`` over ``run``): the
provider's ``PubsubPullTrigger`` with the watcher's settings, only its hook's
``pull``/``acknowledge`` (the Pub/Sub client calls) answered from the test with the
``ReceivedMessage`` type the client returns.

Every pull returns at once (``return_immediately=True``): a long poll on an idle Cloud Pub/Sub
subscription may end in ``DEADLINE_EXCEEDED`` (googleapis/python-pubsub#343), which ends the
provider's trigger, and Composer 3's triggerer cannot load a subclass of this project's that
would take it as an empty answer (events/watcher.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.cloud.pubsub_v1.types import PubsubMessage, ReceivedMessage

from fraud_mlops.events.watcher import landing_watcher
from fraud_mlops.settings import settings_from_env


class _Hook:
    """``PubSubAsyncHook.pull``/``acknowledge`` answering from ``answers`` in turn."""

    def __init__(self, answers: list[list[ReceivedMessage]]) -> None:
        self.answers, self.pulls, self.acked = answers, [], []

    async def pull(self, **kwargs: Any) -> list[ReceivedMessage]:
        self.pulls.append(kwargs)
        return self.answers.pop(0)

    async def acknowledge(self, **kwargs: Any) -> None:
        self.acked.append(kwargs["messages"])


def test_an_empty_pull_answers_at_once_and_the_next_pull_fires_the_event() -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj"})
    trigger: Any = landing_watcher(settings).trigger
    trigger.poke_interval = 0.01
    message = ReceivedMessage(
        ack_id="ack-1",
        message=PubsubMessage(data=b"{}", attributes={"objectId": "incoming/day1.csv"}, message_id="7"),
    )
    hook = _Hook([[], [message]])
    trigger.__dict__["hook"] = hook  # the provider's cached_property

    async def first() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    event = asyncio.run(asyncio.wait_for(first(), 10))

    assert [m["message"]["attributes"] for m in event.payload["message"]] == [
        {"objectId": "incoming/day1.csv"}
    ]
    assert hook.acked == [[message]]
    assert (
        hook.pulls
        == [
            {
                "project_id": "fraud-prj",
                "subscription": "fraud-landing-airflow",
                "max_messages": 1,
                "return_immediately": True,
            }
        ]
        * 2
    )
