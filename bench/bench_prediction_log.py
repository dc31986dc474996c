"""Prediction-log benchmark: what logging adds to a request, in CPU, in one process.

    PYTHONPATH=plugins .venv/bin/python bench/bench_prediction_log.py [--requests 20000]

Measures, for a realistic 200 reply (the full feature vector served):

* the request thread's cost of ``record_answer`` (take the time, enqueue a closure), against
  the baseline of serialising the reply body with ``json.dumps`` as ``http.handle`` does anyway;
* the writer thread's cost per row (build the row, encode the vector, append to the spool).

CPU figures (``time.thread_time``), so other processes on a shared box change them little;
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.prediction_log.sinks import SpoolSink
from fraud_mlops.serving import prediction_logging
from fraud_mlops.serving.prediction_logging import _rows, record_answer
from fraud_mlops.serving.service import Reply


def sample_reply() -> Reply:
    body = {
        "request_id": "r", "fraud_probability": 0.123456, "decision": "legitimate", "threshold": 0.7,
        "model": {"name": "fraud-detector", "version": "3", "deployed_model_id": "fraud-detector-v3"},
        "features": {"timestamp": "2026-11-30T10:00:00Z", "sync_id": "s", "from_request": []},
    }  # fmt: skip
    vector = [float(i) * 1.37 for i in range(len(FEATURE_NAMES))]
    return Reply(status=200, body=body, served={"card_pseudonym": "ab" * 32, "vector": vector})


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    reply, n = sample_reply(), args.requests

    started = time.thread_time()
    for _ in range(n):
        json.dumps(reply.body)
    baseline = (time.thread_time() - started) / n

    with tempfile.TemporaryDirectory() as tmp:
        env = {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": tmp}
        os.environ.update(env)
        prediction_logging.reset()
        log = prediction_logging.writer(env)
        assert log is not None
        started = time.thread_time()
        for i in range(n):
            record_answer(reply, f"r{i}", 0.002)
        enqueue = (time.thread_time() - started) / n
        log.flush(60)

        sink = SpoolSink(Path(tmp) / "direct")
        started = time.thread_time()
        batch: list[dict[str, object]] = []
        for i in range(n):
            batch.extend(_rows(reply, f"r{i}", 0.002, time.time(), None))
            if len(batch) == 200:
                sink(batch)
                batch = []
        sink(batch)
        per_row = (time.thread_time() - started) / n
        prediction_logging.reset()

    print(f"prediction log, {n:,} replies with {len(FEATURE_NAMES)} features (CPU time, this thread):")
    print(f"  baseline: json.dumps of the reply body      {baseline * 1e6:6.1f} us per request")
    print(f"  request thread: record_answer (enqueue)     {enqueue * 1e6:6.1f} us per request "
          f"({enqueue / baseline:.2f}x the body's serialisation)")  # fmt: skip
    print(f"  writer thread: build + encode + spool write {per_row * 1e6:6.1f} us per row")
    print(f"  load average now {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
