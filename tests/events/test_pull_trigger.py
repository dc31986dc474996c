"""The landing watcher's trigger on Cloud Pub/Sub's answers the emulator never gives: a pull
that waits out its deadline on an empty subscription ends in ``DEADLINE_EXCEEDED`` there
(googleapis/python-pubsub#343), which the provider's hook wraps in ``PubSubException``.

The trigger is the real one, run as the triggerer runs it (``async for`` over ``run``); only its
hook's ``pull``/``acknowledge`` (the Pub/Sub client calls) answer from the test, with the
``ReceivedMessage`` type the client returns, and the exception raised the way the hook raises it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.pubsub import PubSubException
from google.api_core import exceptions
from google.cloud.pubsub_v1.types import PubsubMessage, ReceivedMessage

from fraud_mlops.events.pull_trigger import LandingPullTrigger, waited_out
from fraud_mlops.events.watcher import trigger_kwargs
from fraud_mlops.settings import settings_from_env


class _Hook:
    """``PubSubAsyncHook.pull``/``acknowledge`` answering from ``answers`` in turn: an error is
    raised as the hook raises it (``PubSubException`` from inside its ``except``)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers, self.pulls, self.acked = answers, [], []

    async def pull(self, **kwargs: Any) -> list[ReceivedMessage]:
        self.pulls.append(kwargs)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            try:
                raise answer
            except exceptions.GoogleAPICallError as e:
                raise PubSubException("Error pulling messages from subscription", e)  # noqa: B904 - as the hook does
        return answer  # type: ignore[no-any-return]

    async def acknowledge(self, **kwargs: Any) -> None:
        self.acked.append(kwargs["messages"])


def _trigger(answers: list[Any]) -> tuple[LandingPullTrigger, _Hook]:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj"})
    trigger = LandingPullTrigger(**{**trigger_kwargs(settings), "poke_interval": 0.01})
    hook = _Hook(answers)
    trigger.__dict__["hook"] = hook  # the provider's cached_property
    return trigger, hook


def _first_event(trigger: LandingPullTrigger) -> Any:
    async def first() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), 10))


def test_a_pull_that_waited_out_its_deadline_is_an_empty_answer_and_the_next_pull_fires() -> None:
    message = ReceivedMessage(
        ack_id="ack-1",
        message=PubsubMessage(data=b"{}", attributes={"objectId": "incoming/day1.csv"}, message_id="7"),
    )
    trigger, hook = _trigger([exceptions.DeadlineExceeded("Deadline Exceeded"), [], [message]])

    event = _first_event(trigger)

    assert [m["message"]["attributes"] for m in event.payload["message"]] == [
        {"objectId": "incoming/day1.csv"}
    ]
    assert len(hook.pulls) == 3 and hook.acked == [[message]]
    assert hook.pulls[0] == {
        "project_id": "fraud-prj", "subscription": "fraud-landing-airflow",
        "max_messages": 1, "return_immediately": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    "error",
    [exceptions.PermissionDenied("pubsub.subscriptions.consume"), exceptions.NotFound("no subscription")],
)
def test_any_other_pull_error_still_ends_the_trigger(error: Exception) -> None:
    trigger, _ = _trigger([error])
    with pytest.raises(PubSubException) as raised:
        _first_event(trigger)
    assert not waited_out(raised.value)


def test_the_triggerer_builds_the_same_trigger_from_its_serialized_form() -> None:
    """The triggerer imports the class path and calls it with the kwargs (Trigger.from_object)."""
    import importlib

    trigger, _ = _trigger([])
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(rebuilt) is LandingPullTrigger and rebuilt.serialize() == (classpath, kwargs)
