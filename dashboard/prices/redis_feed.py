"""Ticks from a Redis stream (``dashboard feed redis://…``): read as a consumer group,
written with the connector's position in one transaction, acknowledged only after that.

An entry is one tick: the fields ``symbol``, ``price`` and an optional ``ts`` (ISO 8601,
or epoch s/ms/µs/ns; none means now), or one field ``tick`` or ``data`` holding a JSON
object with those keys. Each is checked by :func:`dashboard.prices.ingest.parse_records`
(the rules of every other import: a price above 0, a ``ts`` at most 5 minutes ahead, …).

Delivery, step by step, for each batch of up to ``batch`` entries:

1. entries at or before the committed position (``feed_cursor``) were written already
   (the process stopped between its commit and its XACK): they are acknowledged only;
2. a bad entry is copied to ``<stream>:rejected`` with its fields and a ``reason`` (and
   ``entry_id``, its id), reported once, and acknowledged: it never blocks the stream;
3. the good ticks and the batch's last id go into the store in ONE transaction;
4. then the batch is acknowledged (XACK).

At start, this consumer's pending entries (delivered before, never acknowledged) are read
first, so a restart loses nothing and, through the position, repeats nothing. Stream ids
(``<ms>-<seq>``) are compared as integer pairs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from dashboard.models import FeedCursor, Instrument, utcnow
from dashboard.prices import ingest
from dashboard.prices.instruments import NewInstrument

DEFAULT_GROUP = "dashboard"
DEFAULT_BATCH = 500
# How long one XREADGROUP waits for new entries, in seconds (and so how soon a stop is seen).
DEFAULT_BLOCK = 1.0
# Waits between attempts to reach Redis again, in seconds: doubled up to the last.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
REJECTED_SUFFIX = ":rejected"
_OUR_QUERY = ("stream", "group", "consumer")

StreamId = tuple[int, int]


class FeedUnusable(ValueError):
    """The connector cannot start as asked (a bad URL, a stream that is not a stream,
    credentials Redis refuses); the message says what to change."""


class StoreFailed(RuntimeError):
    """The store refused a batch: nothing of it was written and its entries stay pending
    (read again, and deduplicated by the position, at the next start)."""


@dataclass(frozen=True, slots=True)
class RedisSource:
    """Where to read: the connection URL (password included), the stream, the consumer
    group and this consumer's name."""

    url: str
    host: str
    port: int
    db: int
    stream: str
    group: str
    consumer: str

    @property
    def key(self) -> str:
        """The ``feed_cursor.source`` of this consumer (at most 200 characters)."""
        return f"redis:{self.host}:{self.port}/{self.db}/{self.stream}/{self.group}/{self.consumer}"

    @property
    def shown(self) -> str:
        """The URL as printed and logged: any password replaced by ``***``."""
        return redact_url(self.url)

    @property
    def rejected_stream(self) -> str:
        return self.stream + REJECTED_SUFFIX


def redact_url(url: str) -> str:
    """``url`` with the password of its user part (``redis://user:secret@host``) hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def parse_source(url: str, *, default_consumer: str | None = None) -> RedisSource:
    """Read ``redis://[user:password@]HOST[:PORT][/DB]?stream=S[&group=G][&consumer=C]``
    (``rediss://`` for TLS). The group defaults to ``dashboard``, the consumer to this
    host's name. FeedUnusable says what is wrong (without the password)."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise FeedUnusable(f"{shown} is not a redis:// or rediss:// URL")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    stream = query.get("stream", "").strip()
    if not stream:
        raise FeedUnusable(f"{shown} names no stream: add ?stream=NAME")
    group = query.get("group", "").strip() or DEFAULT_GROUP
    consumer = query.get("consumer", "").strip() or default_consumer or socket.gethostname()
    try:
        port = parts.port or 6379
        db = int(parts.path.strip("/") or 0)
    except ValueError:
        raise FeedUnusable(f"{shown}: the port and the database must be numbers") from None
    source = RedisSource(
        url=url,
        host=parts.hostname or "localhost",
        port=port,
        db=db,
        stream=stream,
        group=group,
        consumer=consumer,
    )
    if len(source.key) > 200:
        raise FeedUnusable(f"{shown}: the stream, group and consumer names are too long")
    return source


def connect(source: RedisSource, *, block: float = DEFAULT_BLOCK) -> redis.Redis:
    """A synchronous client for ``source`` (bytes in, bytes out: a field that is not
    UTF-8 rejects its entry instead of failing the read); its socket timeout is longer
    than a blocking read, so a dead connection is noticed."""
    parts = urlsplit(source.url)
    others = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    plain = urlunsplit(
        parts._replace(query=urlencode([(k, v) for k, v in others if k not in _OUR_QUERY]))
    )
    return redis.Redis.from_url(
        plain, socket_timeout=block + 10.0, socket_connect_timeout=5.0, decode_responses=False
    )


def stream_id(text: str | bytes) -> StreamId:
    """``"1712345678901-3"`` as ``(1712345678901, 3)``, for comparing ids (as strings,
    ``"9-0"`` would sort after ``"10-0"``)."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class Counts:
    """What the connector did since it started: ticks written, entries rejected (copied
    to the dead-letter stream), entries skipped as already written, batches committed."""

    written: int = 0
    rejected: int = 0
    duplicates: int = 0
    batches: int = 0

    def summary(self) -> str:
        return (
            f"written {self.written}, rejected {self.rejected}, "
            f"duplicates skipped {self.duplicates}"
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A bad entry: its stream id, its symbol when it has one, and why."""

    entry_id: str
    reason: str
    symbol: str | None = None


@dataclass(slots=True)
class _Entry:
    id: str
    fields: dict[bytes, bytes]
    record: Any = None
    tick: ingest.TickIn | None = None
    reason: str | None = None


def entry_record(fields: Mapping[bytes, bytes]) -> Any:
    """The record :func:`ingest.parse_records` checks, from an entry's fields: the fields
    themselves (``symbol``, ``price``, ``ts`` as text), or the JSON object of a lone
    ``tick`` or ``data`` field. Returns :class:`ingest.Unreadable` for what cannot be
    read (no fields: an entry deleted before it was written; text that is not UTF-8 or
    not JSON)."""
    if not fields:
        return ingest.Unreadable("the entry has no fields (deleted from the stream?)")
    try:
        text = {k.decode("utf-8"): v.decode("utf-8") for k, v in fields.items()}
    except UnicodeDecodeError:
        return ingest.Unreadable("a field is not UTF-8 text")
    wrapped = [name for name in ("tick", "data") if name in text]
    if wrapped and "price" not in text and "value" not in text:
        if len(wrapped) > 1:
            return ingest.Unreadable("both a tick and a data field: send one")
        try:
            return json.loads(text[wrapped[0]])
        except (ValueError, RecursionError) as error:
            return ingest.Unreadable(f"the {wrapped[0]} field is not JSON ({error})")
    return text


def check_entries(records: Sequence[Any]) -> list[ingest.TickIn | str]:
    """Each record's tick, or the reason it is bad (through :func:`ingest.parse_records`,
    which refuses a whole list for one bad item: the good ones are checked again alone)."""
    now = utcnow()
    results: list[ingest.TickIn | str] = ["" for _ in records]
    todo = list(range(len(records)))
    while todo:
        try:
            ticks = ingest.parse_records([records[i] for i in todo], now=now, max_items=None)
        except ingest.IngestInvalid as invalid:
            bad = {error.index: error.error for error in invalid.errors}
            for position, index in enumerate(todo):
                if position in bad:
                    results[index] = bad[position]
            todo = [index for position, index in enumerate(todo) if position not in bad]
            continue
        for index, tick in zip(todo, ticks, strict=True):
            results[index] = tick
        break
    return results


def symbol_problems(
    session: Session, symbols: Sequence[str], *, create_missing: bool
) -> dict[str, str]:
    """Why a tick of each of these symbols cannot be written, by symbol (retired; unknown
    without ``create_missing``; unknown and no valid symbol for a new instrument)."""
    found = dict(
        session.exec(
            select(Instrument.symbol, Instrument.retired_at).where(
                col(Instrument.symbol).in_(set(symbols))
            )
        ).all()
    )
    problems: dict[str, str] = {}
    for symbol in set(symbols):
        if symbol in found:
            if found[symbol] is not None:
                problems[symbol] = "instrument retired"
            continue
        if not create_missing:
            problems[symbol] = (
                "unknown symbol: add it with `dashboard instruments add`, or run the feed "
                "with --create-missing"
            )
            continue
        try:
            NewInstrument(symbol=symbol)
        except ValidationError:
            problems[symbol] = (
                f"cannot create an instrument for {symbol!r}: a symbol is 1-20 letters, "
                "digits, '.', '_', ':' or '-'"
            )
    return problems


def committed_position(open_session: Callable[[], Session], key: str) -> StreamId | None:
    """The last stream id written for ``key``, or None before the first batch."""
    with open_session() as session:
        row = session.get(FeedCursor, key)
        return stream_id(row.position) if row is not None else None


class RedisFeed:
    """One consumer of one stream, writing into the store (see the module's docstring).

    ``on_rejected`` is told of each bad entry once; ``on_notice`` of a lost connection
    (and the wait before the next attempt) or of entries delivered again after the
    position; ``on_summary`` of the counts every ``summary_every`` seconds.
    """

    def __init__(
        self,
        *,
        source: RedisSource,
        client: redis.Redis,
        open_session: Callable[[], Session],
        create_missing: bool = False,
        batch: int = DEFAULT_BATCH,
        block: float = DEFAULT_BLOCK,
        on_rejected: Callable[[Rejected], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        on_summary: Callable[[Counts], None] | None = None,
        summary_every: float = 60.0,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self.source = source
        self.client = client
        self.open_session = open_session
        self.create_missing = create_missing
        self.batch = batch
        self.block_ms = max(1, int(block * 1000))
        self.on_rejected = on_rejected
        self.on_notice = on_notice
        self.on_summary = on_summary
        self.summary_every = summary_every
        self.backoff = tuple(backoff)
        self.counts = Counts()
        self.position: StreamId | None = None
        self._warned_replay = False

    # The loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> Counts:
        """Read and write until ``stop`` is set (a batch being written is finished first).

        A lost connection is reported to ``on_notice`` and retried with backoff, going
        back to the pending entries; StoreFailed and FeedUnusable end it.
        """
        failures = 0
        next_summary = time.monotonic() + self.summary_every
        while not stop.is_set():
            try:
                self.start()
                failures = 0
                self._drain_pending(stop)
                while not stop.is_set():
                    self.read_new()
                    if self.on_summary is not None and time.monotonic() >= next_summary:
                        self.on_summary(self.counts)
                        next_summary = time.monotonic() + self.summary_every
            except redis.AuthenticationError as refused:
                raise FeedUnusable(f"{self.source.shown}: Redis refused: {refused}") from None
            except (redis.ConnectionError, redis.TimeoutError) as lost:
                wait = self.backoff[min(failures, len(self.backoff) - 1)]
                failures += 1
                self._notice(
                    f"lost the connection to {self.source.shown} ({lost}); "
                    f"trying again in {wait:g} s"
                )
                stop.wait(wait)
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise FeedUnusable(f"{self.source.shown}: Redis answered: {error}") from None
                self._notice(f"the group {self.source.group!r} is gone: creating it again")
        return self.counts

    def start(self) -> None:
        """Create the group (from the stream's beginning, and the stream if missing) and
        load the committed position."""
        try:
            self.client.xgroup_create(self.source.stream, self.source.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise FeedUnusable(
                    f"cannot read {self.source.stream!r} at {self.source.shown}: {error}"
                ) from None
        try:
            self.position = committed_position(self.open_session, self.source.key)
        except SQLAlchemyError as error:
            raise StoreFailed(f"cannot read the feed's position: {_first_line(error)}") from None

    def _drain_pending(self, stop: threading.Event) -> None:
        """This consumer's entries delivered before and never acknowledged, oldest first."""
        after = "0"
        while not stop.is_set():
            entries = self._read(after, block=None)
            if not entries:
                return
            self.handle(entries, pending=True)
            after = entries[-1][0].decode("ascii")

    def read_new(self) -> int:
        """Wait up to the block time for new entries and handle them; how many came."""
        entries = self._read(">", block=self.block_ms)
        if entries:
            self.handle(entries)
        return len(entries)

    def _read(self, after: str, *, block: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply: Any = self.client.xreadgroup(
            self.source.group,
            self.source.consumer,
            {self.source.stream: after},
            count=self.batch,
            block=block,
        )
        if not reply:
            return []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1]
        return entries

    # One batch --------------------------------------------------------------------------

    def handle(
        self, raw: Sequence[tuple[bytes, dict[bytes, bytes] | None]], *, pending: bool = False
    ) -> None:
        """Write one batch and acknowledge it (see the module's docstring for the order).

        Raises StoreFailed (nothing of the batch written, nothing acknowledged) and lets
        Redis's connection errors through (the batch stays pending; read again later).
        """
        if not raw:
            return
        entries = [_Entry(id=i.decode("ascii"), fields=dict(f or {})) for i, f in raw]
        last = max(stream_id(e.id) for e in entries)
        seen: list[_Entry] = []
        fresh: list[_Entry] = []
        for entry in entries:
            is_old = self.position is not None and stream_id(entry.id) <= self.position
            (seen if is_old else fresh).append(entry)
        if seen and not pending and not self._warned_replay:
            self._warned_replay = True
            self._notice(
                f"entry {seen[0].id} came as new but is at or before the committed position "
                f"{_text(self.position)}: skipped as already written (was the group reset, "
                "or the stream made again with lower ids?)"
            )
        for entry in fresh:
            entry.record = entry_record(entry.fields)
        for entry, result in zip(fresh, check_entries([e.record for e in fresh]), strict=True):
            if isinstance(result, str):
                entry.reason = result
            else:
                entry.tick = result
        new_position = last if self.position is None else max(last, self.position)
        written = self._commit(fresh, new_position)
        self.position = new_position
        self.client.xack(self.source.stream, self.source.group, *[e.id for e in entries])
        self.counts.written += written
        self.counts.duplicates += len(seen)
        self.counts.rejected += len([e for e in fresh if e.reason is not None])
        self.counts.batches += 1

    def _commit(self, fresh: list[_Entry], position: StreamId) -> int:
        """Copy the bad entries to the dead-letter stream, then write the good ticks and
        the position in one transaction; the number of ticks written."""
        for _attempt in range(5):
            try:
                with self.open_session() as session:
                    good = [e for e in fresh if e.tick is not None]
                    problems = symbol_problems(
                        session,
                        [e.tick.symbol for e in good if e.tick is not None],
                        create_missing=self.create_missing,
                    )
                    for entry in good:
                        assert entry.tick is not None
                        if entry.tick.symbol in problems:
                            entry.reason = problems[entry.tick.symbol]
                            entry.tick = None
                    # Before the commit: a stop in between copies an entry again at the
                    # next start (found there by its id), never loses it.
                    self._dead_letter([e for e in fresh if e.reason is not None])
                    ticks = [e.tick for e in fresh if e.tick is not None]
                    self._set_position(session, position)
                    try:
                        ids = ingest.write(
                            session=session, ticks=ticks, create_missing=self.create_missing
                        )
                    except ingest.IngestInvalid:
                        # An instrument retired or added since the check: check again.
                        session.rollback()
                        continue
                    session.commit()
                    return len(ids)
            except SQLAlchemyError as error:
                raise StoreFailed(f"the store refused a batch: {_first_line(error)}") from None
        raise StoreFailed("the instruments kept changing while a batch was written")

    def _set_position(self, session: Session, position: StreamId) -> None:
        text = _text(position)
        row = session.get(FeedCursor, self.source.key)
        if row is None:
            row = FeedCursor(source=self.source.key, position=text)
        row.position, row.updated_at = text, utcnow()
        session.add(row)

    def _dead_letter(self, bad: list[_Entry]) -> None:
        """Copy each bad entry to ``<stream>:rejected`` under its own id (so a copy made
        before a stop is recognised after it), and report it once."""
        if not bad:
            return
        target = self.source.rejected_stream
        pipe = self.client.pipeline(transaction=False)
        for entry in bad:
            pipe.xadd(target, _copy(entry), id=entry.id)
        results = pipe.execute(raise_on_error=False)
        for entry, result in zip(bad, results, strict=True):
            if isinstance(result, redis.ResponseError):
                if "equal or smaller" not in str(result):
                    raise result
                if self.client.xrange(target, entry.id, entry.id, count=1):
                    continue  # copied before a stop: already reported
                # Another consumer of the group copied a later entry first.
                self.client.xadd(target, _copy(entry))
            elif isinstance(result, Exception):
                raise result
            if self.on_rejected is not None:
                symbol = entry.tick.symbol if entry.tick is not None else _symbol_of(entry)
                assert entry.reason is not None
                self.on_rejected(Rejected(entry.id, entry.reason, symbol))

    def _notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(text)


def _copy(entry: _Entry) -> dict[Any, Any]:
    copied: dict[Any, Any] = dict(entry.fields)
    copied[b"reason"] = entry.reason or ""
    copied[b"entry_id"] = entry.id
    return copied


def _symbol_of(entry: _Entry) -> str | None:
    record = entry.record
    if isinstance(record, Mapping) and isinstance(record.get("symbol"), str):
        symbol: str = record["symbol"][:40]
        return symbol
    return None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _text(position: StreamId | None) -> str:
    return "none" if position is None else f"{position[0]}-{position[1]}"
