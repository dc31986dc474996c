"""Serving benchmark: the prediction function on loopback, next to a naive baseline.

    PYTHONPATH=plugins .venv/bin/python bench/bench_serving.py [--requests 3000]

Sets up a throwaway local world (an online store with 10,000 cards, a gradient-boosted model
trained the way training trains it, the endpoint file), then starts the real function
(``functions-framework --target predict``, gunicorn, 2 workers x 8 threads) and measures with
a keep-alive HTTP/1.1 load generator (asyncio, one connection per concurrent client):

* closed loop at concurrency 1, 8 and 32: p50/p99 latency and requests per second;
* open loop: requests arriving at a fixed rate (default 500/s) with at most 32 in flight,
  latency counted from each request's scheduled time (no coordinated omission);
* a 10,000-request load at concurrency 32, counting every non-200 answer as an error.

The baseline is ``bench/naive_predict.py`` on the same HTTP stack: it loads the model from
disk per request and calls ``predict_proba``. Both run in this process's run, on this machine,
with the load generator sharing the same cores; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from devtools.function_server import FunctionServer, start_function_server
from fraud_mlops import targets
from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.records import SyncRecord, micros_from_utc
from fraud_mlops.features import FEATURE_NAMES, FEATURES
from fraud_mlops.pseudonym import ensure_local_keys, luhn_complete
from fraud_mlops.registry.artifact import save_model
from fraud_mlops.registry.local_endpoint import DeployedModel, EndpointState, endpoint_path, write_endpoint
from fraud_mlops.registry.names import ENDPOINT_NAME, MODEL_NAME
from fraud_mlops.settings import settings_from_env
from fraud_mlops.training.train import build_estimator

BENCH_DIR = Path(__file__).resolve().parent


def build_world(local_dir: Path, cards: int, train_rows: int) -> list[str]:
    """Online store + trained model + endpoint file; returns the card numbers."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (train_rows, len(FEATURE_NAMES)))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 35]) + rng.normal(0, 1, train_rows) > 2.5).astype(int)
    with threadpool_limits(1):
        estimator = build_estimator("hist_gradient_boosting").fit(x, y)
    model_dir = local_dir / "registry" / MODEL_NAME / "1"
    save_model(estimator, model_dir, {"threshold": 0.5})
    ensure_local_keys(local_dir)
    pseudonymise = targets.pseudonymiser(settings_from_env({"MLOPS_LOCAL_DIR": str(local_dir)}))

    numbers = sorted({luhn_complete("4" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(cards)})
    matrix = rng.normal(0, 1, (len(numbers), len(FEATURE_NAMES)))
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = sorted(
        (
            pseudonymise(card),
            micros_from_utc(start + timedelta(seconds=i)),
            *(None if np.isnan(v) else (round(abs(v) * 5) if f.bq_type == "INT64" else float(v))
              for v, f in zip(matrix[i], FEATURES, strict=True)),
            *bench_state(int((start + timedelta(seconds=i)).timestamp()), i),
        )
        for i, card in enumerate(numbers)
    )  # fmt: skip
    LocalOnlineStore(local_dir / "online_store" / "features.sqlite").publish(
        [rows],
        SyncRecord("bench", start.isoformat(), 0, "bench", "bench_snapshot", "local"),
    )
    write_endpoint(
        endpoint_path(local_dir),
        EndpointState(
            ENDPOINT_NAME,
            "",
            (DeployedModel(f"{MODEL_NAME}-v1", MODEL_NAME, "1", str(model_dir), 100, 0.5),),
        ),
    )
    return numbers


STATE_TRANSACTIONS = 20  # a busy card: 20 transactions in its last 7 days, 12 merchants


def bench_state(latest: int, i: int) -> list[object]:
    """The card's serving state (STATE_COLUMNS order): what request-time features read."""
    times = sorted(latest - (k * 29_000 + i % 97) for k in range(STATE_TRANSACTIONS))
    merchants = [f"merchant_{(i + k) % 500}" for k in range(12)]
    return [
        times,
        [round(5 + (k * 37 + i) % 400 * 0.75, 2) for k in range(STATE_TRANSACTIONS)],
        latest - 30 * 86400,
        merchants,
        [times[0] - 86400 * (12 - k) for k in range(12)],
        [1] * 12,
    ]


@dataclass
class Result:
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, body: bytes) -> int:
        self.writer.write(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def bodies(cards: list[str], n: int, seed: int) -> list[bytes]:
    """Requests with a transaction: every one computes its card features at request time."""
    rng = random.Random(seed)
    return [
        json.dumps(
            {
                "card_number": rng.choice(cards),
                "amount": round(rng.uniform(1, 500), 2),
                "merchant": f"merchant_{rng.randrange(600)}",
                "transaction_time": "2026-11-22T10:15:00Z",
            }
        ).encode()
        for _ in range(n)
    ]


async def closed_loop(port: int, payloads: list[bytes], concurrency: int) -> Result:
    latencies: list[float] = []
    errors = 0
    queue = iter(payloads)

    async def client() -> None:
        nonlocal errors
        conn = await Connection.open(port)
        for body in queue:
            start = time.perf_counter()
            status = await conn.post(body)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += status != 200
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Result(latencies, errors, time.perf_counter() - start)


async def open_loop(port: int, payloads: list[bytes], rate: float, max_in_flight: int) -> Result:
    """Requests scheduled every 1/rate s; latency from the scheduled time, queueing included."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(max_in_flight):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    errors = 0

    async def one(body: bytes, scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        status = await conn.post(body)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += status != 200
        pool.put_nowait(conn)

    start = time.perf_counter()
    tasks = []
    for i, body in enumerate(payloads):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return Result(latencies, errors, elapsed)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def warm_up(port: int, payloads: list[bytes]) -> None:
    asyncio.run(closed_loop(port, payloads, 8))


def line(label: str, r: Result) -> str:
    return (
        f"  {label:<26} p50 {r.pct(0.5):6.2f} ms   p99 {r.pct(0.99):7.2f} ms   "
        f"{r.rps:7.0f} req/s   errors {r.errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="per closed-loop level")
    parser.add_argument("--baseline-requests", type=int, default=300, help="per level, naive baseline")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop arrival rate (req/s)")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--load", type=int, default=10_000, help="requests of the zero-error load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        local_dir = Path(tmp) / "local"
        print(f"training a model on {args.train_rows:,} rows, syncing {args.cards:,} cards ...", flush=True)
        cards = build_world(local_dir, args.cards, args.train_rows)
        env = {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(local_dir)}
        levels = (1, 8, 32)
        results: dict[str, dict[int, Result]] = {"function": {}, "baseline": {}}

        setups = {
            "function": (BENCH_DIR.parent / "functions" / "predict" / "main.py", args.requests),
            "baseline": (BENCH_DIR / "naive_predict.py", args.baseline_requests),
        }
        open_result = load_result = None
        server_cpu = client_cpu = open_cpu = 0.0
        for name, (source, n) in setups.items():
            server: FunctionServer = start_function_server(
                env=env,
                workers=args.workers,
                threads=args.threads,
                source=source,
                log_path=Path(tmp) / f"{name}.log",
            )
            try:
                warm_up(server.port, bodies(cards, 64, seed=0))
                for concurrency in levels:
                    payloads = bodies(cards, n, seed=concurrency)
                    results[name][concurrency] = asyncio.run(closed_loop(server.port, payloads, concurrency))
                if name == "function":
                    payloads = bodies(cards, int(args.rate * args.open_seconds), seed=99)
                    open_cpu = tree_cpu_seconds(server.process.pid)
                    open_result = asyncio.run(open_loop(server.port, payloads, args.rate, 32))
                    server_cpu = tree_cpu_seconds(server.process.pid)
                    open_cpu = server_cpu - open_cpu
                    client_cpu = time.process_time()
                    load_result = asyncio.run(closed_loop(server.port, bodies(cards, args.load, seed=7), 32))
                    server_cpu = tree_cpu_seconds(server.process.pid) - server_cpu
                    client_cpu = time.process_time() - client_cpu
            finally:
                server.stop()
        # The same open loop with the prediction log switched off: what logging costs (docs/monitoring.md).
        server = start_function_server(
            env={**env, "MLOPS_PREDICTION_LOG": "off"}, workers=args.workers, threads=args.threads,
            log_path=Path(tmp) / "function_nolog.log",
        )  # fmt: skip
        try:
            warm_up(server.port, bodies(cards, 64, seed=0))
            payloads = bodies(cards, int(args.rate * args.open_seconds), seed=99)
            open_nolog_cpu = tree_cpu_seconds(server.process.pid)
            open_nolog = asyncio.run(open_loop(server.port, payloads, args.rate, 32))
            open_nolog_cpu = tree_cpu_seconds(server.process.pid) - open_nolog_cpu
        finally:
            server.stop()
        logged = sum(1 for _ in (local_dir / "prediction_log" / "spool").glob("*.jsonl"))

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\nprediction function on loopback: {args.workers} gunicorn workers x {args.threads} threads, "
        f"{os.cpu_count()} CPUs shared with the load generator; load average now {load} "
        f"(other processes compete for the same cores: compare ratios, not absolutes)"
    )
    for concurrency in levels:
        fn, base = results["function"][concurrency], results["baseline"][concurrency]
        print(f"concurrency {concurrency}:")
        print(line("function", fn))
        print(line("baseline (model per request)", base))
        print(
            f"  {'-> function vs baseline':<26} p50 {base.pct(0.5) / fn.pct(0.5):5.1f}x lower, "
            f"p99 {base.pct(0.99) / fn.pct(0.99):5.1f}x lower, throughput {fn.rps / base.rps:5.1f}x higher"
        )
    assert open_result is not None and load_result is not None
    print(
        f"open loop at {args.rate:.0f} req/s (<= 32 in flight, {len(open_result.latencies_ms):,} requests):"
    )
    print(line("function", open_result))
    print(line("function, log off", open_nolog))
    print(
        f"  -> prediction log on vs off: p50 {open_result.pct(0.5) / open_nolog.pct(0.5):.2f}x, "
        f"p99 {open_result.pct(0.99) / open_nolog.pct(0.99):.2f}x; server CPU per request "
        f"{open_cpu / len(open_result.latencies_ms) * 1e6:.0f} us vs "
        f"{open_nolog_cpu / len(open_nolog.latencies_ms) * 1e6:.0f} us ({logged} spool files written; "
        "CPU is the fairer figure on a shared box)"
    )
    print(f"load of {args.load:,} requests at concurrency 32:")
    print(line("function", load_result))
    print(
        f"  mean latency {statistics.fmean(load_result.latencies_ms):.2f} ms; "
        f"{load_result.errors} errors of {len(load_result.latencies_ms):,}"
    )
    per_request = server_cpu / args.load
    print(
        f"  CPU per request: function {per_request * 1e6:.0f} us, load generator "
        f"{client_cpu / args.load * 1e6:.0f} us -> two cores serve about "
        f"{(os.cpu_count() or 1) / per_request:,.0f} req/s with nothing else running"
    )
    goal_p99 = open_result.pct(0.99) <= 10.0
    goal_rps = results["function"][32].rps >= 500
    print(
        f"goals: p99 <= 10 ms at {args.rate:.0f} req/s: {'met' if goal_p99 else 'NOT met'}; "
        f">= 500 req/s at concurrency 32: {'met' if goal_rps else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
