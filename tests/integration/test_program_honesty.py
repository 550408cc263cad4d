"""Programs are told at once when the stream is down (issue 20, "the same honesty for
programs"): ``StreamClient``'s ``on_status`` and ``dashboard tail``'s stderr.

A server that is not there (nothing on the port), one that never answers a connect (a
listener whose accept queue is full), and one that answers and then sends nothing (a
socket server below), each against the client in-process and ``dashboard tail`` as a
real process; a real uvicorn for the reconnect. Every wait has a deadline; none sleeps.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from sqlmodel import Session

from dashboard.accounts import tokens
from dashboard.client import NotificationEvent, StreamClient, StreamStatus
from dashboard.live import wire
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import LiveServer, wait_until
from tests.factories import add_notification, make_user

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def token_for(session: Session, username: str) -> str:
    user = make_user(session, username)
    assert user.id is not None
    return tokens.issue(session=session, user_id=user.id, name="test")[1]


class Statuses:
    """An ``on_status`` that keeps each status with the monotonic time it came."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, StreamStatus]] = []
        self._lock = threading.Lock()

    def __call__(self, status: StreamStatus) -> None:
        with self._lock:
            self.seen.append((time.monotonic(), status))

    def all(self) -> list[StreamStatus]:
        with self._lock:
            return [status for _at, status in self.seen]

    def mark(self) -> int:
        """Where the next status will be: ``wait_for(…, since=mark)`` looks from there."""
        with self._lock:
            return len(self.seen)

    def wait_for(
        self, condition: Callable[[StreamStatus], bool], *, since: int = 0, timeout: float = 10.0
    ) -> tuple[float, StreamStatus]:
        """The first status from ``since`` on (and when it came) that meets ``condition``,
        by a deadline."""
        found: list[tuple[float, StreamStatus]] = []

        def look() -> bool:
            with self._lock:
                found[:] = [(at, s) for at, s in self.seen[since:] if condition(s)][:1]
            return bool(found)

        wait_until(look, timeout=timeout)
        return found[0]


def run_in_thread(client: StreamClient) -> tuple[threading.Thread, queue.Queue[object]]:
    events: queue.Queue[object] = queue.Queue()

    def run() -> None:
        for event in client:
            events.put(event)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, events


# A server that answers and then goes silent


def chunk(line: str) -> bytes:
    data = (line + "\n").encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
)


class SilentServer:
    """Answers each ``GET /api/stream`` with 200 and its script's lines, then nothing.

    Like a server whose event loop has stopped (a suspended process, a sleeping laptop):
    its sockets stay open and it never writes again. ``requests`` are the request targets
    received; ``sent_at`` the monotonic time each connection's last byte was sent.
    """

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.requests: list[str] = []
        self.sent_at: list[float] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._open.append(connection)
            connection.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = connection.recv(4096)
                if not data:
                    break
                head += data
            self.requests.append(head.split(b" ", 2)[1].decode())
            lines = self.scripts.pop(0) if self.scripts else []
            connection.sendall(HEAD + b"".join(chunk(line) for line in lines))
            self.sent_at.append(time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self._open:
            connection.close()
        self._listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    ready = wire.encode(wire.ReadyEvent(after=7)).decode()
    later = wire.NotificationEvent(
        id=8, title="after the silence", body="", severity="info", created_at=WHEN, link=None
    )
    # The first stream goes silent after its ready line; the second carries #8, then does too.
    server = SilentServer([[ready], [ready, wire.encode(later).decode()]])
    yield server
    server.close()


def check_silence_noticed(
    server: SilentServer, statuses: Statuses, limit: float
) -> tuple[StreamStatus, StreamStatus]:
    wait_until(lambda: len(server.requests) >= 1)
    noticed_at, silent = statuses.wait_for(lambda s: s.problem == "silent", timeout=limit + 10)
    # Noticed no sooner than the limit after the first stream's last byte, not much later.
    assert limit - 0.05 <= noticed_at - server.sent_at[0] < limit + 3
    assert (silent.state, silent.reason, silent.attempt) == ("retrying", "no data for 0.5 s", 1)
    assert silent.message.startswith(
        f"lost the stream from {server.url}: no data for 0.5 s, taken for dead; reconnecting in "
    )
    _, back = statuses.wait_for(lambda s: s.state == "connected" and s.reconnected)
    assert back.message.startswith(f"connected to {server.url} again after ")
    # It dropped the silent connection and came back with its cursor (the ready line's).
    assert server.requests[1] == "/api/stream?after=7"
    return silent, back


def test_a_silent_stream_is_noticed_reported_dropped_and_resumed(
    silent_server: SilentServer,
) -> None:
    statuses = Statuses()
    client = StreamClient(silent_server.url, silence_limit=0.5, backoff=0.05, on_status=statuses)
    thread, events = run_in_thread(client)
    check_silence_noticed(silent_server, statuses, 0.5)
    got = events.get(timeout=10)
    assert isinstance(got, NotificationEvent) and got.id == 8
    assert [s.state for s in statuses.all()][:3] == ["connected", "retrying", "connected"]
    client.close()
    thread.join(10)  # the second stream goes silent too: the client ends at its limit
    assert not thread.is_alive()
    assert client.status.state == "closed" and statuses.all()[-1].state == "closed"


def test_the_async_client_notices_a_silent_stream_the_same_way(
    silent_server: SilentServer,
) -> None:
    statuses = Statuses()
    client = StreamClient(
        silent_server.url, keepalive_interval=0.25, backoff=0.05, on_status=statuses
    )
    assert client.silence_limit == 0.5  # two keep-alive intervals

    async def consume() -> int:
        async for event in client:
            assert isinstance(event, NotificationEvent)
            client.close()
            return event.id
        raise AssertionError("the stream ended")

    assert asyncio.run(asyncio.wait_for(consume(), 20)) == 8
    check_silence_noticed(silent_server, statuses, 0.5)


# A server that is not there, then is


def test_an_unreachable_server_is_reported_at_once_each_retry_and_the_reconnect(
    settings: Settings, session: Session
) -> None:
    token = token_for(session, "alice")
    server = LiveServer(lambda: create_app(settings))  # its port, nothing listening yet
    statuses = Statuses()
    client = StreamClient(
        server.base_url, token=token, backoff=0.05, max_backoff=0.2, on_status=statuses
    )
    started = time.monotonic()
    thread, events = run_in_thread(client)
    try:
        at, first = statuses.wait_for(lambda s: s.state == "retrying", timeout=5)
        assert at - started < 2.0  # a refused port is known at once (here: 0.04-0.06 s)
        assert (first.problem, first.reason, first.attempt) == (
            "unreachable",
            "connection refused",
            2,
        )
        assert re.fullmatch(
            rf"cannot reach {server.base_url}: connection refused; retrying in [\d.]+ s "
            r"\(attempt 2\)",
            first.message,
        )
        statuses.wait_for(lambda s: s.attempt == 4 and s.state == "retrying")
        assert client.status.state in ("retrying", "connecting") and client.connections == 0

        server.start()
        _, up = statuses.wait_for(lambda s: s.state == "connected")
        assert not up.reconnected and up.attempt >= 4 and up.down_for is not None
        assert up.message.startswith(f"connected to {server.base_url} after ")
        wait_until(lambda: client.after is not None)

        mark = statuses.mark()
        server.stop()  # a restart: the stream ends, the port refuses, then it is back
        missed = add_notification(session, "while down")
        _, lost = statuses.wait_for(lambda s: s.state == "retrying", since=mark)
        assert lost.problem in ("ended", "dropped") and lost.attempt == 1  # end: shutdown
        statuses.wait_for(lambda s: s.problem == "unreachable", since=mark)
        server.start()
        _, again = statuses.wait_for(lambda s: s.state == "connected", since=mark)
        assert again.reconnected
        assert again.message.startswith(f"connected to {server.base_url} again after ")
        got = events.get(timeout=10)
        while not isinstance(got, NotificationEvent):
            got = events.get(timeout=10)
        assert got.id == missed.id  # resumed from its cursor
        assert client.connections == 2
    finally:
        client.close()
        server.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert all(token not in s.message and token not in repr(s) for s in statuses.all())


def test_a_host_that_never_answers_is_reported_within_the_connect_timeout() -> None:
    # A listener whose accept queue is full drops new SYNs: a connect hangs, as to a host
    # behind a firewall that drops packets.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)
    statuses = Statuses()
    client = StreamClient(
        f"http://127.0.0.1:{port}", connect_timeout=0.5, backoff=0.05, on_status=statuses
    )
    started = time.monotonic()
    thread, _ = run_in_thread(client)
    try:
        at, first = statuses.wait_for(lambda s: s.state == "retrying", timeout=5)
        assert 0.45 <= at - started < 2.5
        assert (first.problem, first.reason) == ("unreachable", "no answer within 0.5 s")
        assert first.message.startswith(
            f"cannot reach http://127.0.0.1:{port}: no answer within 0.5 s; retrying in "
        )
        statuses.wait_for(lambda s: s.attempt == 3)  # and each retry is told too
    finally:
        client.close()
        thread.join(10)
        filler.close()
        listener.close()
    assert not thread.is_alive()


# dashboard tail, as a process


class Tail:
    """``dashboard tail`` in a child process; its stderr lines as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "tail", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.errors: queue.Queue[str] = queue.Queue()
        self.output: queue.Queue[str] = queue.Queue()
        assert self.process.stderr is not None and self.process.stdout is not None
        for stream, lines in (
            (self.process.stderr, self.errors),
            (self.process.stdout, self.output),
        ):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()
        self.seen: list[str] = []

    @staticmethod
    def _read(stream: IO[str], lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    def next_error(self, pattern: str, *, timeout: float = 10.0) -> str:
        """The next stderr line matching ``pattern`` (others are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.errors.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no stderr line like {pattern!r} within {timeout} s; saw {self.seen}"
                ) from None
            self.seen.append(line)
            if re.fullmatch(pattern, line):
                return line

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return self.process.returncode


def test_tail_says_at_once_that_it_cannot_reach_the_server_each_retry_and_the_connect(
    settings: Settings, session: Session
) -> None:
    token = token_for(session, "alice")
    server = LiveServer(lambda: create_app(settings))
    url = re.escape(server.base_url)
    missed = add_notification(session, "hello tail")
    tail = Tail("--url", server.base_url, "--after", "0", env={"DASHBOARD_TOKEN": token})
    try:
        # The deadline includes starting Python; the first line follows the first attempt.
        tail.next_error(
            rf"cannot reach {url}: connection refused; retrying in [\d.]+ s \(attempt 2\)"
        )
        tail.next_error(
            rf"cannot reach {url}: connection refused; retrying in [\d.]+ s \(attempt 3\)"
        )
        server.start()
        tail.next_error(rf"connected to {url} after [\d.]+ s \(attempt \d+\)", timeout=15)
        assert tail.output.get(timeout=10).endswith(f"[info] #{missed.id} hello tail")
    finally:
        code = tail.stop()
        server.stop()
    assert code == 0
    assert not [line for line in tail.seen if token in line]


def test_tail_notices_a_silent_stream_and_reconnects(silent_server: SilentServer) -> None:
    tail = Tail("--url", silent_server.url, env={"DASHBOARD_KEEPALIVE_INTERVAL": "0.25"})
    url = re.escape(silent_server.url)
    try:
        tail.next_error(rf"connected to {url}")
        tail.next_error(
            rf"lost the stream from {url}: no data for 0\.5 s, taken for dead; "
            r"reconnecting in [\d.]+ s \(attempt 1\)"
        )
        tail.next_error(rf"connected to {url} again after [\d.]+ s \(attempt 1\)")
        assert "#8 after the silence" in tail.output.get(timeout=10)
    finally:
        tail.stop()
    assert silent_server.requests[1] == "/api/stream?after=7"
