"""The Redis Streams connector against the real Redis on 127.0.0.1:6379 and a real store."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from dashboard.models import FeedCursor, Instrument, Tick, utcnow
from dashboard.prices import ingest, redis_feed
from dashboard.store.db import session_factory
from tests.conftest import wait_until
from tests.factories import make_instrument

REDIS_URL = os.environ.get("DASHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
    """A stream of this test's own, deleted after it (with its dead-letter stream)."""
    name = f"test:feed:{uuid.uuid4().hex[:12]}"
    yield name
    client.delete(name, name + redis_feed.REJECTED_SUFFIX)


def make_feed(
    client: Any, stream: str, engine: Engine, **options: Any
) -> tuple[redis_feed.RedisFeed, list[redis_feed.Rejected], list[str]]:
    source = redis_feed.parse_source(
        f"{REDIS_URL}?stream={stream}&consumer=c1", default_consumer="unused"
    )
    rejected: list[redis_feed.Rejected] = []
    notices: list[str] = []
    feed = redis_feed.RedisFeed(
        source=source,
        client=client,
        open_session=session_factory(engine),
        block=0.05,
        on_rejected=rejected.append,
        on_notice=notices.append,
        **options,
    )
    return feed, rejected, notices


def run_until_idle(feed: redis_feed.RedisFeed) -> None:
    """What ``run`` does, step by step: start, the pending entries, then new ones until
    a read finds none."""
    feed.start()
    feed._drain_pending(threading.Event())
    while feed.read_new():
        pass


def prices(session: Session) -> list[float]:
    session.expire_all()
    return [t.price for t in session.exec(select(Tick).order_by(col(Tick.id))).all()]


def pending(client: Any, stream: str) -> int:
    return int(client.xpending(stream, redis_feed.DEFAULT_GROUP)["pending"])


def cursor(session: Session, feed: redis_feed.RedisFeed) -> str | None:
    session.expire_all()
    row = session.get(FeedCursor, feed.source.key)
    return row.position if row is not None else None


# The URL, ids and entries ---------------------------------------------------------------


def test_the_url_gives_stream_group_consumer_and_a_key_and_hides_the_password() -> None:
    source = redis_feed.parse_source(
        "redis://:s3cret@cache.example:6380/2?stream=ticks", default_consumer="box-1"
    )
    assert (source.host, source.port, source.db, source.stream) == (
        "cache.example",
        6380,
        2,
        "ticks",
    )
    assert (source.group, source.consumer) == ("dashboard", "box-1")
    assert source.key == "redis:cache.example:6380/2/ticks/dashboard/box-1"
    assert source.rejected_stream == "ticks:rejected"
    assert source.shown == "redis://:***@cache.example:6380/2?stream=ticks"
    named = redis_feed.parse_source("redis://u:pw@h/0?stream=s&group=g&consumer=me")
    assert (named.group, named.consumer, named.port) == ("g", "me", 6379)
    assert "pw" not in named.shown and named.shown.startswith("redis://u:***@h/")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://:s3cret@h:1/0?stream=s", "not a redis:// or rediss:// URL"),
        ("redis://:s3cret@h:1/0", "names no stream: add ?stream=NAME"),
        ("redis://:s3cret@h:1/x?stream=s", "must be numbers"),
        (f"redis://:s3cret@h:1/0?stream={'s' * 200}", "too long"),
    ],
)
def test_a_bad_url_is_refused_clearly_without_its_password(url: str, problem: str) -> None:
    with pytest.raises(redis_feed.FeedUnusable) as raised:
        redis_feed.parse_source(url)
    assert problem in str(raised.value) and "s3cret" not in str(raised.value)


def test_stream_ids_compare_as_numbers_not_text() -> None:
    assert redis_feed.stream_id("9-0") < redis_feed.stream_id("10-0")
    assert redis_feed.stream_id(b"10-2") > redis_feed.stream_id("10-1")
    assert "9-0" > "10-0"  # what comparing the text would say


def test_entries_are_fields_or_one_json_field() -> None:
    record = redis_feed.entry_record
    assert record({b"symbol": b"ACME", b"price": b"1.5"}) == {"symbol": "ACME", "price": "1.5"}
    assert record({b"tick": b'{"symbol":"ACME","price":2}'}) == {"symbol": "ACME", "price": 2}
    assert record({b"data": b'{"symbol":"ACME","price":2}'}) == {"symbol": "ACME", "price": 2}
    unreadable = {
        "deleted": record({}),
        "not utf-8": record({b"symbol": b"\xff", b"price": b"1"}),
        "not json": record({b"tick": b"{nope"}),
        "both": record({b"tick": b"{}", b"data": b"{}"}),
    }
    assert all(isinstance(r, ingest.Unreadable) for r in unreadable.values())
    assert "deleted" in str(unreadable["deleted"]) and "not JSON" in str(unreadable["not json"])


# Writing, acknowledging, the position ---------------------------------------------------


def test_entries_already_in_the_stream_are_written_once_acked_and_the_position_kept(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    make_instrument(session, "ACME")
    ms = int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() * 1000)
    client.xadd(stream, {"symbol": "ACME", "price": "1.5", "ts": "2026-01-02T03:04:05Z"})
    client.xadd(stream, {"symbol": "ACME", "price": "2.5", "ts": str(ms)})
    client.xadd(stream, {"tick": json.dumps({"symbol": "ACME", "price": 3.5})})
    last = client.xadd(stream, {"data": json.dumps({"symbol": "ACME", "price": 4.5})}).decode()
    feed, rejected, _ = make_feed(client, stream, engine, batch=2)  # the group starts at 0
    before = utcnow()
    run_until_idle(feed)
    assert prices(session) == [1.5, 2.5, 3.5, 4.5] and rejected == []
    ticks = session.exec(select(Tick).order_by(col(Tick.id))).all()
    assert ticks[1].ts.replace(tzinfo=UTC) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ticks[3].ts.replace(tzinfo=UTC) >= before.replace(microsecond=0)  # no ts: now
    assert pending(client, stream) == 0 and cursor(session, feed) == last
    assert feed.counts == redis_feed.Counts(written=4, rejected=0, duplicates=0, batches=2)
    # Started again: nothing new, nothing repeated.
    again, _, _ = make_feed(client, stream, engine)
    run_until_idle(again)
    assert len(prices(session)) == 4 and again.counts.written == 0


BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"tick": "{not json"}, "not JSON"),
    ({"tick": "[1, 2]"}, "must be an object"),
    ({"price": "1"}, "symbol is missing"),
    ({"symbol": "ACME", "price": "ten"}, "price must be a number"),
    ({"symbol": "ACME", "price": "0"}, "price must be a finite number above 0"),
    ({"symbol": "ACME", "price": "-3"}, "price must be a finite number above 0"),
    ({"symbol": "ACME", "price": "nan"}, "price must be a finite number above 0"),
    ({"symbol": "ACME", "price": "1", "ts": "yesterday"}, "is not a time"),
    ({"symbol": "ACME", "price": "1", "ts": "2026-01-01T12:00:00"}, "has no time zone"),
    ({"symbol": "NOPE", "price": "1"}, "unknown symbol"),
    ({"symbol": "OLD", "price": "1"}, "instrument retired"),
    ({"symbol": b"\xff\xfe", "price": "1"}, "not UTF-8"),
]


def test_each_bad_entry_is_reported_once_dead_lettered_and_acked_and_the_good_written(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    make_instrument(session, "ACME")
    old = make_instrument(session, "OLD")
    old.retired_at = utcnow()
    session.add(old)
    session.commit()
    future = (utcnow() + timedelta(hours=1)).isoformat()
    bad = [*BAD_ENTRIES, ({"symbol": "ACME", "price": "1", "ts": future}, "too far in the future")]
    ids: dict[str, str] = {}
    for n, (fields, _reason) in enumerate(bad):
        client.xadd(stream, {"symbol": "ACME", "price": str(100 + n)})
        ids[client.xadd(stream, fields).decode()] = _reason
    feed, rejected, _ = make_feed(client, stream, engine, batch=7)
    run_until_idle(feed)
    assert prices(session) == [float(100 + n) for n in range(len(bad))]
    assert pending(client, stream) == 0
    assert [r.entry_id for r in rejected] == list(ids)  # each once, in order
    for report in rejected:
        assert ids[report.entry_id] in report.reason
    dead = client.xrange(stream + ":rejected")
    assert [entry_id.decode() for entry_id, _ in dead] == list(ids)
    for (entry_id, fields), (original, reason) in zip(dead, bad, strict=True):
        assert reason in fields[b"reason"].decode() and fields[b"entry_id"] == entry_id
        for name, value in original.items():
            assert fields[name.encode()] == (value if isinstance(value, bytes) else value.encode())
    assert feed.counts.rejected == len(bad) and feed.counts.written == len(bad)
    unknown = next(r for r in rejected if r.symbol == "NOPE")
    assert "--create-missing" in unknown.reason


def test_create_missing_adds_instruments_and_rejects_a_symbol_that_cannot_be_one(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    client.xadd(stream, {"symbol": "NEW-1", "price": "1.125"})
    bad_id = client.xadd(stream, {"symbol": "not one!", "price": "2"}).decode()
    client.xadd(stream, {"symbol": "NEW-1", "price": "1.5"})
    feed, rejected, _ = make_feed(client, stream, engine, create_missing=True)
    run_until_idle(feed)
    assert prices(session) == [1.125, 1.5]
    created = session.exec(select(Instrument)).all()
    assert [(i.symbol, i.decimals) for i in created] == [("NEW-1", 3)]
    assert [(r.entry_id, r.symbol) for r in rejected] == [(bad_id, "not one!")]
    assert "cannot create an instrument" in rejected[0].reason
    assert pending(client, stream) == 0 and client.xlen(stream + ":rejected") == 1


def test_a_batch_of_only_bad_entries_moves_the_position(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    last = client.xadd(stream, {"symbol": "NOPE", "price": "1"}).decode()
    feed, rejected, _ = make_feed(client, stream, engine)
    run_until_idle(feed)
    assert prices(session) == [] and len(rejected) == 1 and cursor(session, feed) == last
    assert pending(client, stream) == 0


# Stops at the worst moments -------------------------------------------------------------


class Crash(BaseException):
    """A process killed at this point (nothing after it runs)."""


def test_a_stop_between_commit_and_ack_repeats_nothing_after_a_restart(
    client: Any,
    stream: str,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_instrument(session, "ACME")
    for n in range(5):
        client.xadd(stream, {"symbol": "ACME", "price": str(n + 1)})
    client.xadd(stream, {"symbol": "ACME", "price": "-1"})  # rejected: in the same batch
    feed, rejected, _ = make_feed(client, stream, engine)

    def killed(*_args: Any) -> None:
        raise Crash

    monkeypatch.setattr(client, "xack", killed)
    with pytest.raises(Crash):
        run_until_idle(feed)
    monkeypatch.undo()
    assert prices(session) == [1, 2, 3, 4, 5] and pending(client, stream) == 6
    assert len(rejected) == 1
    client.xadd(stream, {"symbol": "ACME", "price": "6"})
    restarted, rejected_again, _ = make_feed(client, stream, engine)
    run_until_idle(restarted)
    assert prices(session) == [1, 2, 3, 4, 5, 6] and pending(client, stream) == 0
    assert restarted.counts.duplicates == 6 and restarted.counts.written == 1
    assert rejected_again == [] and client.xlen(stream + ":rejected") == 1


def test_a_stop_after_the_dead_letter_copy_before_the_commit_copies_nothing_twice(
    client: Any,
    stream: str,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_instrument(session, "ACME")
    client.xadd(stream, {"symbol": "ACME", "price": "1"})
    bad_id = client.xadd(stream, {"symbol": "ACME", "price": "0"}).decode()
    feed, rejected, _ = make_feed(client, stream, engine)

    def killed(**_kwargs: Any) -> list[int]:
        raise Crash

    monkeypatch.setattr(ingest, "write", killed)
    with pytest.raises(Crash):
        run_until_idle(feed)
    monkeypatch.undo()
    assert prices(session) == [] and cursor(session, feed) is None
    assert pending(client, stream) == 2 and client.xlen(stream + ":rejected") == 1
    restarted, rejected_again, _ = make_feed(client, stream, engine)
    run_until_idle(restarted)
    assert prices(session) == [1.0] and pending(client, stream) == 0
    assert [e.decode() for e, _ in client.xrange(stream + ":rejected")] == [bad_id]
    assert [r.entry_id for r in rejected] == [bad_id] and rejected_again == []


def test_a_store_error_stops_with_nothing_half_written_and_the_entries_left_pending(
    client: Any,
    stream: str,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_instrument(session, "ACME")
    for n in range(3):
        client.xadd(stream, {"symbol": "ACME", "price": str(n + 1)})
    feed, _, _ = make_feed(client, stream, engine)

    def failing(*, session: Session, **_kwargs: Any) -> list[int]:
        session.add(Tick(instrument_id=1, price=9.0, ts=utcnow()))
        session.flush()  # written in the transaction, then the store fails before the commit
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(ingest, "write", failing)
    with pytest.raises(redis_feed.StoreFailed, match="database is locked"):
        feed.run(threading.Event())
    monkeypatch.undo()
    assert prices(session) == [] and cursor(session, feed) is None
    assert pending(client, stream) == 3
    restarted, _, _ = make_feed(client, stream, engine)
    run_until_idle(restarted)
    assert prices(session) == [1.0, 2.0, 3.0] and pending(client, stream) == 0


def test_entries_delivered_again_as_new_after_a_group_reset_are_skipped_with_a_notice(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    make_instrument(session, "ACME")
    for n in range(3):
        client.xadd(stream, {"symbol": "ACME", "price": str(n + 1)})
    feed, _, notices = make_feed(client, stream, engine)
    run_until_idle(feed)
    client.xgroup_setid(stream, redis_feed.DEFAULT_GROUP, "0")
    client.xadd(stream, {"symbol": "ACME", "price": "4"})
    run_until_idle(feed)
    assert prices(session) == [1.0, 2.0, 3.0, 4.0] and feed.counts.duplicates == 3
    assert len(notices) == 1 and "skipped as already written" in notices[0]


def test_the_loop_stops_when_asked_and_recreates_a_deleted_group(
    client: Any, stream: str, engine: Engine, session: Session
) -> None:
    make_instrument(session, "ACME")
    feed, _, notices = make_feed(client, stream, engine)
    stop = threading.Event()
    runner = threading.Thread(target=feed.run, args=(stop,))
    runner.start()
    try:
        client.xadd(stream, {"symbol": "ACME", "price": "1"})
        wait_until(lambda: feed.counts.written == 1)
        client.xgroup_destroy(stream, redis_feed.DEFAULT_GROUP)
        client.xadd(stream, {"symbol": "ACME", "price": "2"})
        wait_until(lambda: feed.counts.written == 2)
        # The new group starts at 0: the first entry came again and was skipped.
        assert feed.counts.duplicates == 1 and any("gone" in n for n in notices)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive() and prices(session) == [1.0, 2.0]


def test_redis_out_of_reach_is_said_and_retried_with_backoff_without_the_password(
    engine: Engine,
) -> None:
    with socket_closed() as port:
        url = f"redis://:s3cret@127.0.0.1:{port}/0?stream=s&consumer=c"
        source = redis_feed.parse_source(url)
        notices: list[str] = []
        stop = threading.Event()

        def noticed(text: str) -> None:
            notices.append(text)
            if len(notices) == 3:
                stop.set()

        feed = redis_feed.RedisFeed(
            source=source,
            client=redis_feed.connect(source, block=0.05),
            open_session=session_factory(engine),
            on_notice=noticed,
            backoff=(0.01, 0.02),
        )
        feed.run(stop)
    assert [n.rsplit("again in ", 1)[1] for n in notices] == ["0.01 s", "0.02 s", "0.02 s"]
    assert all("lost the connection to redis://:***@127.0.0.1" in n for n in notices)
    assert not any("s3cret" in n for n in notices)


class socket_closed:
    """A local port nothing listens on (bound and closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    def __exit__(self, *_exc: object) -> None:
        return None


def test_a_key_that_is_not_a_stream_is_refused_clearly(
    client: Any, stream: str, engine: Engine
) -> None:
    client.set(stream, "a string")
    feed, _, _ = make_feed(client, stream, engine)
    with pytest.raises(redis_feed.FeedUnusable, match=f"cannot read '{stream}'"):
        feed.run(threading.Event())
