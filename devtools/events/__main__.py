"""``python -m devtools.events on|off``: start or stop the Pub/Sub watcher of the running local stack."""

from __future__ import annotations

import argparse
import sys

from devtools.events import runs
from devtools.stack.airflow_api import AirflowAPI
from devtools.stack.stack import StackState
from fraud_mlops.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.events", description=__doc__)
    parser.add_argument(
        "command", choices=["on", "off"], help="unpause (on) or pause (off) fraud_ingest_events"
    )
    args = parser.parse_args(argv)
    state = StackState.load(get_settings())
    if state is None:
        print("the local stack is not running: start it with `make up`", file=sys.stderr)
        return 2
    api = AirflowAPI(state.api_url)
    if args.command == "on":
        runs.activate(api)
        print(
            f"{runs.EVENTS_DAG}: watching the landing subscription; landed files start runs ({state.api_url})"
        )
    else:
        runs.deactivate(api)
        print(f"{runs.EVENTS_DAG}: paused; notifications wait in the subscription")
    return 0


if __name__ == "__main__":
    sys.exit(main())
