"""The landing subscription's pull trigger: the Google provider's ``PubsubPullTrigger``, with a
pull that waited out its deadline on an empty subscription taken as an empty answer.

On Cloud Pub/Sub a pull that waits (``return_immediately=False``) on an empty subscription may
end in ``DEADLINE_EXCEEDED`` once the client's deadline passes (60 s by default for
``Pull``), rather than in an empty response: Google's client maintainers call that expected
(googleapis/python-pubsub#343, googleapis/google-cloud-python#9390). The provider's hook wraps
it in ``PubSubException``, which its trigger's ``run`` lets escape: the triggerer logged the
landing watcher failed and started it again, on every idle minute. The GCS and Pub/Sub
emulators answer an empty pull with an empty response, so only a test with the error raised at
the hook shows it (tests/events/test_pull_trigger.py).

Loaded by the triggerer by its class path (:meth:`LandingPullTrigger.serialize`), from the
plugins folder Airflow puts on ``sys.path``; built by :mod:`fraud_mlops.events.watcher`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger
from airflow.triggers.base import TriggerEvent


def waited_out(error: BaseException) -> bool:
    """Whether ``error`` (the hook's ``PubSubException``, raised in its ``except`` around the
    client's ``GoogleAPICallError``) is a pull's deadline passing."""
    from google.api_core.exceptions import DeadlineExceeded

    causes = [error.__cause__, error.__context__, *getattr(error, "args", ())]
    return any(isinstance(cause, DeadlineExceeded) for cause in causes)


class LandingPullTrigger(PubsubPullTrigger):
    """``PubsubPullTrigger`` whose pulls that waited out their deadline come back empty: its
    loop then sleeps ``poke_interval`` and pulls again, as after any empty pull. Every other
    error still ends the trigger (the triggerer logs it and starts the watcher again)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        pull = self.hook.pull

        async def pull_or_nothing(**kwargs: Any) -> list[Any]:
            try:
                return await pull(**kwargs)  # type: ignore[no-any-return]
            except Exception as error:  # the hook's PubSubException, whatever its cause
                if not waited_out(error):
                    raise
                self.log.info("no notification within the pull's deadline; pulling again")
                return []

        self.hook.pull = pull_or_nothing  # type: ignore[method-assign]  # this trigger's hook only
        async for event in super().run():
            yield event
