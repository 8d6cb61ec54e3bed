"""Channel latency: web messages under 20 concurrent customers, Slack acknowledgement time, duplicate replies.

The server is ``shopassist serve`` in its own process on loopback (demo catalog, CtrRanker with its
baseline fallback, SQLite logs), as ``make run`` starts it; the customers and a loopback stand-in
for Slack's Web API run in this process. Baselines measured in the same run: the assistant called
in-process with no HTTP (what a turn costs), and ``/healthz`` round trips under the same load
(what HTTP on loopback costs). The load is bounded in messages and in time.

    python benchmarks/channels.py [--customers 20] [--messages 6] [--think 0.5] [--slack-events 60]
                                  [--deadline 240] [--json]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import emit_json, machine, markdown_table, percentile_ms  # noqa: E402
from connectors.conversations import scripted_service  # noqa: E402
from connectors.slack import LoopbackSlackApi, SignedSlackClient  # noqa: E402
from retrieval import Store, ensure_demo_data  # noqa: E402

SECRET = "benchmark-signing-secret"
TOKEN = "benchmark-agent-token"
# Each simulated customer opens with one of these and goes on with the follow-ups.
OPENERS = [
    "a laptop under $800",
    "noise cancelling headphones",
    "4k tv under $600",
    "a gaming monitor",
    "a smartwatch for running",
    "a bluetooth speaker",
    "an android tablet",
    "a video doorbell",
]
FOLLOW_UPS = ["cheaper", "compare the first two", "what is your return policy?", "only the best rated", "thanks"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": percentile_ms(samples, 50),
        "p95_ms": percentile_ms(samples, 95),
        "max_ms": max(samples) * 1000 if samples else float("nan"),
    }


def core_baseline(messages: list[str]) -> list[float]:
    """Assistant.reply in-process, one message at a time: the cost of a turn without HTTP or concurrency."""
    store = Store.ephemeral()
    ensure_demo_data(store)
    service = scripted_service(store)
    service.warm_up()
    samples = []
    for index, text in enumerate(messages):
        started = time.perf_counter()
        service.message(f"core:{index // 6}", text)
        samples.append(time.perf_counter() - started)
    store.close()
    return samples


def start_server(data_dir: Path, port: int, slack_api: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHOPASSIST_DATA_DIR": str(data_dir),
        "SHOPASSIST_AGENT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-benchmark",
        "SHOPASSIST_SLACK_API_URL": slack_api,
        # Every simulated customer comes from this one address: the per-address limits would throttle them.
        "SHOPASSIST_RATE_LIMITING": "false",
    }
    command = [str(Path(sys.executable).with_name("shopassist")), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(http: httpx.Client, server: subprocess.Popen[bytes], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {(server.stderr.read() if server.stderr else b'').decode()[-2000:]}")
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def run_customers(
    base: str, customers: int, messages: int, think: float, deadline: float
) -> tuple[list[float], list[float], int]:
    """Returns (message latencies, /healthz latencies, errors); each customer is one thread with one connection."""
    latencies: list[float] = []
    health: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline

    def timed(call: Callable[[], httpx.Response], into: list[float]) -> httpx.Response:
        started = time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - started
        with lock:
            into.append(elapsed)
        return response

    def customer(index: int) -> None:
        nonlocal errors
        rng = random.Random(index)
        script = [OPENERS[index % len(OPENERS)], *FOLLOW_UPS][:messages]
        with httpx.Client(base_url=base, timeout=60.0) as http:
            session = http.post("/api/sessions").json()["session_id"]
            for text in script:
                if time.monotonic() > stop_at:
                    return
                time.sleep(rng.uniform(0, 2 * think))
                response = timed(
                    lambda t=text: http.post(f"/api/sessions/{session}/messages", json={"text": t}), latencies
                )
                timed(lambda: http.get("/healthz"), health)
                if response.status_code != 200:
                    with lock:
                        errors += 1

    with ThreadPoolExecutor(customers) as pool:
        list(pool.map(customer, range(customers)))
    return latencies, health, errors


def run_slack(base: str, api: LoopbackSlackApi, events: int, concurrency: int) -> dict[str, Any]:
    """Each event is sent three times: the original, Slack's retry (X-Slack-Retry-Num), and a plain duplicate."""
    sender = SignedSlackClient(f"{base}/slack/events", SECRET, httpx.Client(timeout=30.0))
    acks: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver(index: int) -> None:
        channel, event_id = f"DBENCH{index:04d}", f"EvBench{index:06d}"
        text = OPENERS[index % len(OPENERS)]
        for retry in (None, 1, None):
            started = time.perf_counter()
            response = sender.direct_message(channel, text, event_id=event_id, retry=retry)
            with lock:
                acks.append(time.perf_counter() - started)
                statuses.append(response.status_code)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(deliver, range(events)))
    channels = [f"DBENCH{index:04d}" for index in range(events)]
    api.wait_for(lambda: all(api.posts(channel) for channel in channels), timeout=300)
    time.sleep(2.0)  # a duplicate reply would have been posted by now
    replies = {channel: len(api.posts(channel)) for channel in channels}
    sender.close()
    return {
        "ack": _summary(acks),
        "requests": len(acks),
        "non_200": sum(status != 200 for status in statuses),
        "events": events,
        "answered": sum(count >= 1 for count in replies.values()),
        "duplicate_replies": sum(max(0, count - 1) for count in replies.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=6, help="Messages per customer (at most 6).")
    parser.add_argument("--think", type=float, default=0.5, help="Mean seconds a customer waits between messages.")
    parser.add_argument("--slack-events", type=int, default=60)
    parser.add_argument("--deadline", type=float, default=240.0, help="Seconds after which customers stop.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    core_messages = [text for index in range(8) for text in [OPENERS[index], *FOLLOW_UPS][: args.messages]]
    core = core_baseline(core_messages)
    with LoopbackSlackApi() as api, tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(Path(data_dir), port, api.url)
        try:
            with httpx.Client(base_url=base, timeout=60.0) as http:
                wait_ready(http, server)
            web, health, errors = run_customers(base, args.customers, args.messages, args.think, args.deadline)
            slack = run_slack(base, api, args.slack_events, args.customers)
        finally:
            server.terminate()
            server.wait(timeout=30)

    figures = {
        "machine": machine(),
        "load": {"customers": args.customers, "messages_per_customer": args.messages, "think_s": args.think},
        "web_message": {**_summary(web), "errors": errors},
        "baseline_core_reply_in_process": _summary(core),
        "baseline_healthz_under_load": _summary(health),
        "slack": slack,
        "targets": {"web_p95_ms": 300, "slack_ack_p95_ms": 300, "slack_ack_limit_ms": 3000, "duplicate_replies": 0},
    }
    if args.json:
        emit_json(figures)
        return
    rows = [
        ["web message → turn (HTTP, 20 customers)", *_cells(figures["web_message"]), "p95 ≤ 300"],
        ["baseline: Assistant.reply in-process, sequential", *_cells(figures["baseline_core_reply_in_process"]), ""],
        ["baseline: /healthz under the same load", *_cells(figures["baseline_healthz_under_load"]), ""],
        ["Slack ack (original + retry + duplicate)", *_cells(slack["ack"]), "p95 ≤ 300 (limit 3000)"],
    ]
    print(
        f"machine: {figures['machine']}; {args.customers} customers × {args.messages} messages, think "
        f"{args.think} s mean; server: `shopassist serve` in its own process\n"
    )
    print(markdown_table(["measure", "n", "p50 ms", "p95 ms", "max ms", "target"], rows))
    print(
        f"\nweb errors: {errors}; Slack: {slack['events']} events × 3 deliveries, {slack['non_200']} non-200 acks, "
        f"{slack['answered']} answered, duplicate replies: {slack['duplicate_replies']} (target 0)"
    )


def _cells(summary: dict[str, float]) -> list[Any]:
    return [int(summary["n"]), summary["p50_ms"], summary["p95_ms"], summary["max_ms"]]


if __name__ == "__main__":
    main()
