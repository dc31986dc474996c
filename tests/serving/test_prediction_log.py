"""The prediction log: every answer of the real function lands in ``prediction_log``, shadow
scores of the canary beside the champion's, and the request path never waits for the writer."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest

from devtools.function_server import start_function_server
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.prediction_log.records import STAGING_TABLE
from fraud_mlops.prediction_log.store import LocalPredictionLog
from fraud_mlops.prediction_log.writer import BackgroundWriter
from fraud_mlops.settings import settings_from_env
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

from .helpers import ServingWorld


def _post(url: str, payload: Any, request_id: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"X-Request-Id": request_id}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_writer_batches_and_never_blocks_when_the_sink_is_stuck() -> None:
    release = threading.Event()
    batches: list[list[dict[str, Any]]] = []

    def stuck_sink(batch: list[dict[str, Any]]) -> None:
        release.wait(10)
        batches.append(batch)

    writer = BackgroundWriter(stuck_sink, max_queue=100, batch_size=50, flush_seconds=0.05)
    started = time.perf_counter()
    for i in range(1000):
        writer.submit({"request_id": str(i)})
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, "submitting must not wait for the sink"  # generous: a stuck sink waits 10 s
    assert writer.dropped > 0, "a full queue drops and counts instead of blocking"
    release.set()
    assert writer.flush()
    written = [r["request_id"] for batch in batches for r in batch]
    assert len(written) == 1000 - writer.dropped
    assert len(written) == len(set(written))
    assert max(len(b) for b in batches) <= 50
    writer.close()


@pytest.fixture
def canary_server(world: ServingWorld, tmp_path: Path) -> Any:
    world.deploy({"1": 70, "2": 30})
    env = {**world.env(), "MLOPS_SHADOW_RATE": "1"}
    try:
        with start_function_server(env=env, log_path=tmp_path / "function.log") as server:
            yield server
    finally:
        world.deploy({"1": 100})


def test_every_answer_and_shadow_score_lands_in_the_prediction_log(
    world: ServingWorld, canary_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: dict[str, tuple[int, dict[str, Any], str | None]] = {}
    for i, card in enumerate(world.cards[:40]):
        rid = f"plog-{i}"
        status, body = _post(canary_server.url, {"card_number": card}, rid)
        sent[rid] = (status, body, card)
    sent["plog-bad"] = (*_post(canary_server.url, {"card_number": "4111111111111112"}, "plog-bad"), None)
    canary_server.stop()  # workers exit: their writers flush what is queued

    settings = settings_from_env({**world.env(), "MLOPS_LOCAL_DIR": str(world.local_dir)})
    warehouse_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRAUD_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(warehouse_path)})
    )
    warehouse = DuckDBWarehouse(settings, database=warehouse_path)
    log = LocalPredictionLog(world.local_dir / "prediction_log")
    staged = log.stage(warehouse)
    assert staged >= len(sent)
    append_staged(warehouse, settings)
    append_staged(warehouse, settings)  # a retried append adds nothing
    log.staged()
    assert not list((world.local_dir / "prediction_log" / "claimed").glob("*.jsonl"))

    conn = duckdb.connect(str(warehouse_path), read_only=True)
    rows = conn.execute(
        "SELECT request_id, source, status, error, score, decision, model_version, features, card_pseudonym, "
        "latency_ms FROM fraud.prediction_log WHERE request_id LIKE 'plog-%'"
    ).fetchall()
    assert conn.execute(f"SELECT count(*) FROM fraud.{STAGING_TABLE}").fetchone()[0] == staged
    conn.close()
    online = {r[0]: r for r in rows if r[1] == "online"}
    assert set(online) == set(sent), "one online row per request, none duplicated"
    assert len([r for r in rows if r[1] == "online"]) == len(sent)
    bad = online["plog-bad"]
    assert (bad[2], bad[3], bad[4]) == (400, "invalid_card_number", None)
    for rid, (status, body, card) in sent.items():
        if status != 200:
            continue
        row = online[rid]
        assert row[4] == pytest.approx(body["fraud_probability"], abs=1e-6)
        assert (row[5], row[6]) == (body["decision"], body["model"]["version"])
        features = json.loads(row[7])
        assert list(features) == list(FEATURE_NAMES)
        assert row[8] and card not in json.dumps(row)  # a pseudonym, never the card number
        assert row[9] > 0

    shadows = [r for r in rows if r[1] == "shadow"]
    champion_answers = [rid for rid, r in online.items() if r[6] == "1"]
    assert {r[0] for r in shadows} == set(champion_answers), "rate 1: every champion answer is shadowed"
    for shadow in shadows:
        assert shadow[6] == "2"
        card = sent[shadow[0]][2]
        assert shadow[4] == pytest.approx(world.expected_probability("2", card), abs=1e-6)


def test_on_gcp_an_answers_record_is_written_before_the_request_returns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cloud Run gives an instance CPU only while it handles a request: a record left to the
    background writer would wait for the next request, or be lost with the instance. On gcp the
    answer's line reaches stdout (the log sink's source) before ``record_answer`` returns."""
    from fraud_mlops.prediction_log.sinks import LOG_TYPE
    from fraud_mlops.serving import prediction_logging
    from fraud_mlops.serving.service import Reply, error_reply

    for name, value in {
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": "fraud-prj",
        "MLOPS_PREDICTION_LOG": "on",
    }.items():
        monkeypatch.setenv(name, value)
    prediction_logging.reset()
    try:
        answered = Reply(
            status=200,
            body={
                "fraud_probability": 0.91,
                "threshold": 0.5,
                "model": {"name": "fraud-detector", "version": "7"},
            },
            served={"card_pseudonym": "p-1", "vector": [0.5] * len(FEATURE_NAMES)},
        )
        prediction_logging.record_answer(answered, "rid-200", 0.012)
        prediction_logging.record_answer(
            error_reply(404, "unknown_card", "no such card", "rid-404"), "rid-404", 0.004
        )
        lines = capsys.readouterr().out.splitlines()  # at once: no flush, no wait
        entries = [json.loads(line) for line in lines]
        assert {e["log_type"] for e in entries} == {LOG_TYPE}
        records = [json.loads(e["record"]) for e in entries]
        assert [(r["request_id"], r["status"], r["model_version"], r["decision"]) for r in records] == [
            ("rid-200", 200, "7", "fraud"),
            ("rid-404", 404, None, None),
        ]
        writer = prediction_logging.writer()
        assert writer is not None and writer.written == 0  # nothing went through the background
    finally:
        prediction_logging.reset()
