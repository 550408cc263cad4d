"""Cross-process wake-up on PostgreSQL: a notification posted on server A -> a stream on B.

Starts two `dashboard serve --no-feed` processes on one PostgreSQL schema (created and
dropped here), opens alice's stream on B, posts notifications one at a time on A through
the JSON API, and measures request sent to A -> arrival on B (so A's own handling of the
post, commit included, is in the figure). It runs twice: with LISTEN/NOTIFY
(the normal set-up) and with LISTEN disabled (only the poll interval brings them).

    .venv/bin/python bench/cross_process.py --posts 100

Not collected by pytest. Needs PostgreSQL at 127.0.0.1:5432 (trust auth, database test).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from soak import PASSWORD, add_users  # noqa: E402  (bench/ is scripts, not a package)

POSTGRES = os.environ.get(
    "DASHBOARD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "serve", "--no-feed", "--port", str(port)],
        env={
            **os.environ,
            "DASHBOARD_DATABASE_URL": url,
            # Every client connects from this one address.
            "DASHBOARD_MAX_STREAMS_PER_ADDRESS": "1000000",
            "DASHBOARD_MAX_STREAMS_PER_USER": "1000000",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/instruments", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def run(url: str, token: str, posts: int, env: dict[str, str]) -> list[float]:
    a, base_a = serve(url, env)
    b, base_b = serve(url, env)
    arrivals: dict[str, float] = {}
    try:
        alice = httpx.Client(base_url=base_b, timeout=httpx.Timeout(10, read=None))
        page = alice.get("/login").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        alice.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
        ready = threading.Event()

        def read() -> None:
            with alice.stream("GET", "/events?view=inbox") as response:
                ready.set()
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        arrivals[line[4:]] = time.perf_counter()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(10)
        time.sleep(0.5)  # let the stream's replay and badge go by
        latencies = []
        with httpx.Client(base_url=base_a, timeout=10) as api:
            for i in range(posts):
                # A random pause: posts must not fall into step with the other's poll timer.
                time.sleep(random.uniform(0, 1.0))
                sent = time.perf_counter()
                response = api.post(
                    "/api/notifications",
                    json={"title": f"n{i}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                key = str(response.json()["id"])
                deadline = time.perf_counter() + 5
                while key not in arrivals and time.perf_counter() < deadline:
                    time.sleep(0.0005)
                latencies.append((arrivals.get(key, deadline) - sent) * 1000)
        return latencies
    finally:
        for process in (a, b):
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50)
    args = parser.parse_args()

    from dashboard.store import schema

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    url = (
        make_url(POSTGRES)
        .update_query_dict({"options": f"-csearch_path={name}"})
        .render_as_string(hide_password=False)
    )
    try:
        schema.upgrade(url)
        token = add_users(url, token_name="bench")
        common = {"DASHBOARD_SECRET_KEY": "bench-secret-key", "DASHBOARD_DEMO_PASSWORD": PASSWORD}
        print("| wake-up | poll interval | posts | p50 | p99 | max |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, env in (
            ("LISTEN/NOTIFY", {"DASHBOARD_NOTIFICATION_POLL_INTERVAL": "1.0"}),
            (
                "polling only",
                {"DASHBOARD_NOTIFICATION_POLL_INTERVAL": "1.0", "DASHBOARD_PG_LISTEN": "false"},
            ),
        ):
            latencies = sorted(run(url, token, args.posts, {**common, **env}))
            p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
            print(
                f"| {label} | 1.0 s | {len(latencies)} | {statistics.median(latencies):.1f} ms "
                f"| {p99:.1f} ms | {latencies[-1]:.1f} ms |"
            )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
