"""`dashboard feed redis://…` as a real process on a real store: killed at any moment
(kill -9 mid-stream, or between a commit and its XACK) and started again, every tick is
in the store exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.models import FeedCursor, Tick
from dashboard.prices import ingest
from tests.conftest import wait_until
from tests.factories import make_instrument

REDIS_URL = os.environ.get("DASHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GROUP = "dashboard"

# The connector with XACK replaced by the process dying: killed after its first commit,
# before its first acknowledgement.
DIES_BEFORE_ACK = """
import os, sys, redis
redis.Redis.xack = lambda *args, **kwargs: os._exit(9)
from dashboard.cli import app
sys.argv = ["dashboard", *sys.argv[1:]]
app()
"""


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def stream(client: Any) -> Iterator[str]:
    name = f"test:feed:{uuid.uuid4().hex[:12]}"
    yield name
    client.delete(name, name + ":rejected")


class Connector:
    """``dashboard feed`` as a process of its own, its output in files."""

    def __init__(self, tmp_path: Path, database_url: str, url: str, *options: str) -> None:
        self.tmp_path, self.database_url, self.url, self.options = (
            tmp_path,
            database_url,
            url,
            options,
        )
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, program: list[str] | None = None) -> subprocess.Popen[bytes]:
        self.runs += 1
        self.out = self.tmp_path / f"run{self.runs}.out"
        self.err = self.tmp_path / f"run{self.runs}.err"
        env = {**os.environ, "DASHBOARD_DATABASE_URL": self.database_url}
        command = program or [sys.executable, "-m", "dashboard.cli"]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "feed", self.url, *self.options], env=env, stdout=out, stderr=err
            )
        return self.process

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)


def ticks(session: Session) -> list[float]:
    session.expire_all()
    return list(session.exec(select(Tick.price).order_by(col(Tick.id))).all())


def tick_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Tick)).one())


def pending(client: Any, stream: str) -> int:
    return int(client.xpending(stream, GROUP)["pending"])


def add(client: Any, stream: str, numbers: range) -> None:
    pipe = client.pipeline(transaction=False)
    for n in numbers:
        pipe.xadd(stream, {"symbol": "ACME", "price": f"{1 + n / 1000:.3f}"})
    pipe.execute()


def expected(numbers: range) -> list[float]:
    return [round(1 + n / 1000, 3) for n in numbers]


@pytest.fixture
def connector(tmp_path: Path, database_url: str, stream: str) -> Iterator[Connector]:
    connector = Connector(
        tmp_path,
        database_url,
        f"{REDIS_URL}?stream={stream}&consumer=it",
        "--batch",
        "25",
        "--block",
        "0.1",
    )
    yield connector
    if connector.process is not None and connector.process.poll() is None:
        connector.process.kill()
        connector.process.wait(timeout=10)


def test_killed_mid_stream_and_restarted_every_tick_is_written_exactly_once(
    client: Any, stream: str, engine: Engine, session: Session, connector: Connector
) -> None:
    make_instrument(session, "ACME")
    add(client, stream, range(0, 2500))
    kills = 0
    for reached in (300, 1500):  # killed twice while it writes
        connector.start()
        wait_until(lambda reached=reached: tick_count(engine) >= reached, timeout=60)  # type: ignore[misc]
        assert connector.process is not None
        connector.process.kill()
        connector.process.wait(timeout=10)
        kills += tick_count(engine) < 2500
    add(client, stream, range(2500, 5000))  # more arrive while it is down
    connector.start()
    wait_until(lambda: tick_count(engine) >= 5000 and pending(client, stream) == 0, timeout=120)
    assert connector.stop(signal.SIGTERM) == 0, connector.output()
    assert kills >= 1, "the connector finished before it could be killed"
    written = ticks(session)
    assert len(written) == 5000 and sorted(written) == expected(range(5000))
    assert client.xlen(stream + ":rejected") == 0
    last = client.xrevrange(stream, count=1)[0][0].decode()
    session.expire_all()
    assert [c.position for c in session.exec(select(FeedCursor)).all()] == [last]
    assert "stopped: written" in connector.output()


def test_killed_between_its_commit_and_its_ack_it_repeats_nothing_when_restarted(
    client: Any, stream: str, engine: Engine, session: Session, connector: Connector
) -> None:
    make_instrument(session, "ACME")
    add(client, stream, range(100))
    died = connector.start(program=[sys.executable, "-c", DIES_BEFORE_ACK])
    assert died.wait(timeout=60) == 9, connector.output()
    assert ticks(session) == expected(range(25)) and pending(client, stream) == 25
    connector.start()
    wait_until(lambda: tick_count(engine) >= 100 and pending(client, stream) == 0, timeout=60)
    assert connector.stop(signal.SIGINT) == 0
    assert ticks(session) == expected(range(100))
    assert "stopped: written 75, rejected 0, duplicates skipped 25" in connector.output()


def test_bad_entries_are_reported_with_their_id_and_the_stream_goes_on(
    client: Any, stream: str, engine: Engine, session: Session, connector: Connector
) -> None:
    make_instrument(session, "ACME")
    client.xadd(stream, {"symbol": "ACME", "price": "1"})
    bad = client.xadd(stream, {"symbol": "ACME", "price": "-5"}).decode()
    unknown = client.xadd(stream, {"symbol": "NOPE", "price": "5"}).decode()
    client.xadd(stream, {"tick": '{"symbol": "ACME", "price": 2}'})
    connector.start()
    wait_until(lambda: tick_count(engine) >= 2 and pending(client, stream) == 0, timeout=60)
    assert connector.stop() == 0
    assert ticks(session) == [1.0, 2.0]
    errors = connector.err.read_text()
    assert f"rejected entry {bad} (ACME): price must be a finite number above 0" in errors
    assert f"rejected entry {unknown} (NOPE): unknown symbol" in errors
    assert "stopped: written 2, rejected 2, duplicates skipped 0" in connector.output()
    reasons = [f[b"reason"].decode() for _i, f in client.xrange(stream + ":rejected")]
    assert len(reasons) == 2 and "above 0" in reasons[0]


runner = CliRunner()


def test_a_bad_url_or_refused_credentials_end_it_clearly_without_the_password(
    database_url: str, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", database_url)
    no_stream = runner.invoke(app, ["feed", "redis://:s3cret@127.0.0.1:6379/0"])
    assert no_stream.exit_code == 2 and "names no stream" in no_stream.output
    host = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    refused = runner.invoke(app, ["feed", f"redis://nobody:s3cret@{host}/0?stream={stream}"])
    assert refused.exit_code == 1, refused.output
    assert "error: redis://nobody:***@" in refused.output
    for result in (no_stream, refused):
        assert "s3cret" not in result.output


def test_a_store_error_ends_it_with_a_message_and_leaves_the_batch_pending(
    client: Any,
    stream: str,
    engine: Engine,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_instrument(session, "ACME")
    add(client, stream, range(3))
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", database_url)

    def failing(**_kwargs: object) -> list[int]:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ingest, "write", failing)
    result = runner.invoke(app, ["feed", f"{REDIS_URL}?stream={stream}&consumer=c"])
    assert result.exit_code == 1
    assert "error: the store refused a batch" in result.output
    assert "disk I/O error" in result.output and "read again at the next start" in result.output
    assert ticks(session) == [] and pending(client, stream) == 3
