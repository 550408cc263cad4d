"""Soak runs for docs/reliability.md (`make soak`; not part of `make test`).

Each scenario runs the real `dashboard serve` in its own process on a throw-away SQLite file
and drives it with raw asyncio HTTP/1.1 clients that behave like EventSource: they keep the
last event id and reconnect with `Last-Event-ID`, backing off with jitter, until served.

    .venv/bin/python bench/soak.py kill9 --streams 300 --missed 50
    .venv/bin/python bench/soak.py sigterm --streams 300
    .venv/bin/python bench/soak.py contention --streams 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fanout  # noqa: E402  (bench/ is a directory of scripts, not a package)
from fanout import free_port  # noqa: E402

PASSWORD = "soak-password-1"
EVENT_ID = re.compile(rb"^id: (\d+)\r?$", re.MULTILINE)


def prepare(url: str) -> str:
    """The fan-out benchmark's store (20 instruments) and :func:`add_users`; the token."""
    fanout.prepare(url)
    return add_users(url, token_name="soak")


def add_users(url: str, *, token_name: str) -> str:
    """Users admin and alice (password ``PASSWORD``) and an admin API token; return it."""
    from sqlmodel import Session

    from dashboard.accounts import auth, tokens
    from dashboard.store.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        admin = auth.create_user(
            session=session, username="admin", password=PASSWORD, is_admin=True
        )
        auth.create_user(session=session, username="alice", password=PASSWORD)
        assert admin.id is not None
        _, token = tokens.issue(session=session, user_id=admin.id, name=token_name)
    engine.dispose()
    return token


async def stop_clients_and_server(
    stop: asyncio.Event | None, tasks: list[asyncio.Task[None]], server: Server
) -> None:
    """End a scenario: stop its client tasks, then the server (SIGTERM, as in production)."""
    if stop is not None:
        stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(30)


_RUNNING: list[subprocess.Popen[bytes]] = []


@atexit.register
def _stop_leftovers() -> None:
    """However a run ends (an error, Ctrl-C), no server it started outlives it."""
    for process in _RUNNING:
        if process.poll() is None:
            process.kill()
            process.wait(10)


class Server:
    def __init__(
        self, url: str, port: int, log: Path, *args: str, env: dict[str, str] | None = None
    ):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        full_env = {
            **os.environ,
            "DASHBOARD_DATABASE_URL": url,
            "DASHBOARD_SECRET_KEY": "soak-secret-key",
            "DASHBOARD_FEED_ENABLED": "false",
            # Every simulated client connects from this one address, many as one user.
            "DASHBOARD_MAX_STREAMS_PER_ADDRESS": "1000000",
            "DASHBOARD_MAX_STREAMS_PER_USER": "1000000",
            **(env or {}),
        }
        self.log = log
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), *args],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _RUNNING.append(self.process)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"server did not start; see {log}")
            time.sleep(0.1)


def session_cookie(base: str) -> str:
    with httpx.Client(base_url=base) as client:
        page = client.get("/login").text
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


@dataclass
class Reader:
    """One EventSource-like client: counts event ids, reconnects with Last-Event-ID."""

    port: int
    cookie: str
    path: str = "/events?view=inbox&after=0"
    ids: list[int] = field(default_factory=list)
    connects: int = 0
    refused: int = 0
    last_id: str = ""
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.refused += 1
                attempt += 1
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))
                continue
            headers = f"Cookie: {self.cookie}\r\n"
            if self.last_id:
                headers += f"Last-Event-ID: {self.last_id}\r\n"
            request = f"GET {self.path} HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n"
            writer.write(f"{request}{headers}\r\n".encode())
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                if b" 200 " not in head.split(b"\r\n", 1)[0]:
                    self.refused += 1
                    raise ConnectionError("not served")
                self.connects += 1
                attempt = 0
                self.connected.set()
                buffer = b""
                while not stop.is_set():
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\r\n\r\n")
                    for message in complete:
                        for found in EVENT_ID.findall(message):
                            self.ids.append(int(found))
                            self.last_id = found.decode()
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                self.connected.clear()
                writer.close()
            attempt += 1
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))


def write_notifications(url: str, count: int) -> list[int]:
    from sqlmodel import Session

    from dashboard.models import Audience, Notification
    from dashboard.store.db import make_engine

    engine = make_engine(url)
    ids = []
    with Session(engine) as session:
        for i in range(count):
            n = Notification(title=f"while down {i}", audience=Audience.everyone)
            session.add(n)
            session.commit()
            ids.append(n.id)
    engine.dispose()
    return ids


async def restart_scenario(how: str, streams: int, missed: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix=f"soak-{how}-"))
    url = f"sqlite:///{workdir / 'soak.db'}"
    prepare(url)
    port = free_port()
    log = workdir / "serve.log"
    server = Server(url, port, log)
    cookie = session_cookie(server.base)
    readers = [Reader(port, cookie) for _ in range(streams)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in readers]
    await wait_for(lambda: all(r.connected.is_set() for r in readers), 60)
    started = time.monotonic()
    if how == "kill9":
        server.process.send_signal(signal.SIGKILL)
    else:
        server.process.send_signal(signal.SIGTERM)
    server.process.wait(60)
    exit_seconds = time.monotonic() - started
    ids = await asyncio.to_thread(write_notifications, url, missed)
    restarted_at = time.monotonic()
    # In a thread: the clients keep running (and retrying) while the server starts.
    server = await asyncio.to_thread(Server, url, port, log)
    await wait_for(lambda: all(r.ids[-missed:] == ids for r in readers), 120)
    all_back = time.monotonic() - restarted_at
    await stop_clients_and_server(stop, tasks, server)
    complete = sum(1 for r in readers if r.ids == ids)
    duplicates = sum(len(r.ids) - len(set(r.ids)) for r in readers)
    text = log.read_text()
    return {
        "scenario": how,
        "streams": streams,
        "missed": missed,
        "exit_seconds": round(exit_seconds, 2),
        "clients_with_all_missed_once_in_order": f"{complete}/{streams}",
        "duplicates": duplicates,
        "seconds_from_restart_until_all_resumed": round(all_back, 2),
        "connection_attempts_refused_while_down": sum(r.refused for r in readers),
        "connects": sum(r.connects for r in readers),
        "unclean_endings_in_log": text.count("returned without completing response"),
    }


async def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """:func:`fanout.until`, ending the run when the condition is not met in time."""
    if not await fanout.until(condition, timeout):
        raise SystemExit("timed out")


async def contention(streams: int, seconds: float, ticks_per_second: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="soak-contention-"))
    url = f"sqlite:///{workdir / 'soak.db'}"
    token = prepare(url)
    port = free_port()
    log = workdir / "serve.log"
    server = Server(url, port, log, "--workers", "2", env={"DASHBOARD_FEED_ENABLED": "true"})
    stop = asyncio.Event()
    opened = 0

    async def watcher() -> None:
        nonlocal opened
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n\r\n")
        opened += 1
        try:
            while not stop.is_set():
                chunk = await reader.read(65536)
                if not chunk:
                    return
        finally:
            writer.close()

    watchers = [asyncio.create_task(watcher()) for _ in range(streams)]
    await wait_for(lambda: opened == streams, 60)
    ingested: list[int] = []
    errors: list[str] = []
    per_request = 10
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            batch = [
                {
                    "symbol": f"S{random.randrange(20):02d}",
                    "price": round(random.uniform(90, 110), 2),
                }
                for _ in range(per_request)
            ]
            try:
                response = await client.post(
                    "/api/ticks", json=batch, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code == 200:
                    ingested.extend(response.json()["ids"])
                else:
                    errors.append(f"{response.status_code} {response.text[:80]}")
            except httpx.HTTPError as error:
                errors.append(repr(error))
            sent += per_request
            delay = started + sent / ticks_per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elapsed = time.monotonic() - started
    await asyncio.sleep(2)
    await stop_clients_and_server(stop, watchers, server)

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        stored = {row[0] for row in connection.execute(text("SELECT id FROM tick"))}
        feed_ticks = connection.execute(text("SELECT count(*) FROM tick")).scalar_one()
    engine.dispose()
    log_text = log.read_text()
    return {
        "scenario": "contention",
        "workers": 2,
        "streams": streams,
        "seconds": round(elapsed, 1),
        "ingest_ticks_per_second": round(len(ingested) / elapsed, 1),
        "ingest_errors": len(errors),
        "ingested_ticks_missing_from_store": len(set(ingested) - stored),
        "ticks_in_store_incl_feed": feed_ticks,
        "database_is_locked_in_log": log_text.count("database is locked"),
        "tracebacks_in_log": log_text.count("Traceback"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["kill9", "sigterm", "contention"])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--missed", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--ticks-per-second", type=int, default=200)
    args = parser.parse_args()
    if args.scenario == "contention":
        result = asyncio.run(contention(args.streams, args.seconds, args.ticks_per_second))
    else:
        result = asyncio.run(restart_scenario(args.scenario, args.streams, args.missed))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
