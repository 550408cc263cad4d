"""The ``dashboard`` command: serve, migrate, demo, create-user."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TextIO
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.engine import Engine, make_url
from sqlmodel import select

from dashboard import demo
from dashboard.accounts import auth, tokens
from dashboard.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_KEEPALIVE_INTERVAL,
    Event,
    PriceEvent,
    StreamClient,
    StreamRefused,
    StreamStatus,
)
from dashboard.logs import logging_config
from dashboard.models import User, utcnow
from dashboard.prices import ingest as ingest_ticks
from dashboard.prices import instruments, redis_feed
from dashboard.settings import Settings
from dashboard.store import schema
from dashboard.store.db import make_engine, session_factory, session_scope

app = typer.Typer(help="Live price tiles and a personal notification inbox.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_feed: Annotated[
        bool, typer.Option("--no-feed", help="Do not run the simulated feed.")
    ] = False,
) -> None:
    """Serve the dashboard (with the simulated feed unless --no-feed)."""
    if no_feed:
        # Workers are separate processes: they read their settings from the environment.
        os.environ["DASHBOARD_FEED_ENABLED"] = "false"
    # The server's own imports are made here: the other commands start without them.
    import uvicorn

    from dashboard.web.http_protocol import BoundedHttpToolsProtocol

    settings = Settings()
    _migrated_engine(settings).dispose()
    settings.session_secret()  # create the development key once, before workers race for it
    uvicorn.run(
        "dashboard.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=5,
        # httptools with a size and a time limit on request heads (see the module).
        http=BoundedHttpToolsProtocol,
        log_config=logging_config(log_format=settings.log_format, level=settings.log_level),
        access_log=False,  # dashboard.access logs each request with its id instead
    )


@app.command()
def migrate() -> None:
    """Create or update the tables (Alembic upgrade to head)."""
    settings = Settings()
    schema.upgrade(settings.database_url)
    typer.echo(f"database is up to date: {_display_url(settings.database_url)}")


@app.command("demo")
def demo_data() -> None:
    """Add the demo instruments, topics and users (admin, alice, bob); safe to repeat."""
    engine = _migrated_engine(Settings())
    password = os.environ.get("DASHBOARD_DEMO_PASSWORD") or None
    with session_scope(session_factory(engine)) as session:
        result = demo.seed(session=session, password=password)
    typer.echo(
        f"demo data: {result.instruments_added} instruments and {result.topics_added} topics added"
    )
    if result.created_users:
        names = ", ".join(result.created_users)
        if result.password_was_generated:
            password_text = next(iter(result.created_users.values()))
            typer.echo(f"users created: {names}; their password (shown once): {password_text}")
        else:
            typer.echo(f"users created: {names}; password from DASHBOARD_DEMO_PASSWORD")
    else:
        typer.echo("demo users already exist; their passwords are unchanged")


@app.command("create-user")
def create_user(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="DASHBOARD_NEW_PASSWORD"
        ),
    ] = "",
) -> None:
    """Create a user (asks for the password, or reads DASHBOARD_NEW_PASSWORD)."""
    engine = _migrated_engine(Settings())
    with session_scope(session_factory(engine)) as session:
        try:
            user = auth.create_user(
                session=session, username=username, password=password, is_admin=admin
            )
        except auth.UserInvalid as invalid:
            typer.echo(f"error: {invalid}", err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"created {'admin' if user.is_admin else 'user'} {user.username}")


@app.command("create-token")
def create_token(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    scope: Annotated[
        str,
        typer.Option(
            help="all: whatever the user may do; feed: only write ticks (for a feed handler)."
        ),
    ] = "all",
) -> None:
    """Create an API token for USERNAME; the token is printed once, on the last line."""
    if scope not in tokens.SCOPES:
        typer.echo(f"error: --scope must be one of {', '.join(tokens.SCOPES)}", err=True)
        raise typer.Exit(code=2)
    settings = Settings()
    engine = _migrated_engine(settings)
    with session_scope(session_factory(engine)) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None or user.id is None:
            typer.echo(f"error: no user {username!r}", err=True)
            raise typer.Exit(code=1)
        try:
            row, token = tokens.issue(
                session=session,
                user_id=user.id,
                name=name,
                limit=settings.max_tokens_per_user,
                scope=scope,
            )
        except tokens.TokenLimitReached as refused:
            typer.echo(f"error: {refused}", err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"token {row.prefix}… for {username} ({name}, scope {scope}); it is shown only now:")
    typer.echo(token)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(metavar="FILE", help="A file, or - for stdin.")],
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep reading (a feed piped in): write each tick as it comes, skip and "
            "report bad lines, stop when the input ends (exit 1 if any line was skipped).",
        ),
    ] = False,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, ndjson or json (default: from the file's name; ndjson for -)."
        ),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(help="The symbol of a file with one series (rows that name none)."),
    ] = None,
    create_missing: Annotated[
        bool,
        typer.Option(
            "--create-missing",
            help="Add an instrument for each unknown symbol (decimals from its prices).",
        ),
    ] = False,
    tz: Annotated[
        str | None,
        typer.Option(help="Time zone of times written without one, e.g. America/New_York."),
    ] = None,
    dayfirst: Annotated[
        bool, typer.Option("--dayfirst", help="Read 01/02/2016 as 1 February, not January 2.")
    ] = False,
    symbol_column: Annotated[
        str | None, typer.Option(help="CSV header of the symbol, or its position (1: first).")
    ] = None,
    price_column: Annotated[
        str | None, typer.Option(help="CSV header of the price, or its position (1: first).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="CSV header of the time, or its position (1: first).")
    ] = None,
) -> None:
    """Write the ticks in FILE (CSV/TSV, NDJSON, or a JSON array): all of them, or none.

    CSV headers are found by name (symbol, price/close/value, ts/time/date: any case),
    the separator and decimal commas are detected; times are ISO 8601, dates, or epoch
    s/ms/µs/ns.
    """
    file = Path(source)
    if source != "-" and not file.is_file():
        typer.echo(f"error: no file {source!r} (give a file, or - for stdin)", err=True)
        raise typer.Exit(code=1)
    settings = Settings()
    engine = _migrated_engine(settings)
    columns = {
        field: name
        for field, name in (("symbol", symbol_column), ("price", price_column), ("ts", time_column))
        if name
    }
    keep = timedelta(hours=settings.tick_retention_hours)
    kind = format or ("ndjson" if str(file) == "-" else ingest_ticks.kind_of(file))
    if kind not in ("csv", "ndjson", "json"):
        typer.echo(f"error: unknown format {kind!r}: csv, ndjson or json", err=True)
        raise typer.Exit(code=1)
    if follow:
        _follow(file, kind, columns, symbol, _zone(tz), engine)
        return
    if str(file) == "-":
        stream: TextIO = sys.stdin
        total_lines = 0  # unknown: no bar length
    else:
        stream = file.open(encoding="utf-8", newline="")
        total_lines = _count_lines(file)
    with _bad_input_reported(file):
        zone = _zone(tz)
        with (
            stream,
            session_scope(session_factory(engine)) as session,
            typer.progressbar(length=total_lines, label="checking and writing") as bar,
        ):
            reached = 0

            def advance(line: int) -> None:
                nonlocal reached
                bar.update(line - reached)
                reached = line

            imported = ingest_ticks.import_records(
                session=session,
                records=ingest_ticks.iter_records(stream, kind=kind, columns=columns),
                default_symbol=symbol,
                tz=zone,
                dayfirst=dayfirst,
                create_missing=create_missing,
                old_before=utcnow() - keep,
                progress=advance,
            )
    if imported.created:
        noun = "instrument" if len(imported.created) == 1 else "instruments"
        typer.echo(f"created {len(imported.created)} {noun}: {', '.join(imported.created)}")
    typer.echo(f"wrote {imported.written} ticks")
    shown_overlaps = 10
    for overlap in imported.overlaps[:shown_overlaps]:
        count, unit = (overlap.ticks, "ticks") if overlap.ticks else (overlap.days, "daily bars")
        more = " or more" if count >= ingest_ticks.OVERLAP_COUNT_LIMIT else ""
        typer.echo(
            f"note: {overlap.symbol} already had prices from {overlap.first:%Y-%m-%d %H:%M} "
            f"to {overlap.last:%Y-%m-%d %H:%M} UTC ({count}{more} {unit}): if this file was "
            "imported before, its ticks are now stored twice",
            err=True,
        )
    if len(imported.overlaps) > shown_overlaps:
        typer.echo(f"note: … and {len(imported.overlaps) - shown_overlaps} more symbols", err=True)
    if imported.older:
        # Said now, not found out later: what retention keeps of old history, and how.
        typer.echo(
            f"note: {imported.older} of these ticks are older than the tick retention "
            f"({settings.tick_retention_hours:g} h): their history is kept as hour and day "
            f"bars (GET /api/prices/SYMBOL/bars?resolution=1d; minute bars for "
            f"{settings.minute_bar_retention_days:g} days), and the raw ticks are pruned "
            "once in bars, each instrument keeping its newest; set "
            "DASHBOARD_TICK_RETENTION_HOURS higher to keep the raw ticks",
            err=True,
        )


def _follow(
    file: Path,
    kind: str,
    columns: dict[str, str],
    symbol: str | None,
    zone: ZoneInfo | None,
    engine: Engine,
) -> None:
    """`ingest --follow`: each tick written as it comes, bad lines reported and skipped."""

    def skipped(error: ingest_ticks.ItemError) -> None:
        shown = f" ({error.symbol})" if error.symbol else ""
        typer.echo(f"skipped {error.where}{shown}: {error.error}", err=True)

    stream: TextIO = sys.stdin if str(file) == "-" else file.open(encoding="utf-8", newline="")
    with stream, _bad_input_reported(file):
        followed = ingest_ticks.follow_records(
            open_session=session_factory(engine),
            records=ingest_ticks.iter_records(stream, kind=kind, columns=columns),
            default_symbol=symbol,
            tz=zone,
            on_skipped=skipped,
        )
    typer.echo(f"wrote {followed.written} ticks, skipped {followed.skipped} lines")
    if followed.skipped:
        # A script piping a feed in learns that ticks were lost, not only a person reading.
        raise typer.Exit(code=1)


@app.command()
def feed(
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="redis://[:PASSWORD@]HOST:PORT/DB?stream=NAME[&group=G][&consumer=C] "
            "(group: dashboard; consumer: this host's name).",
        ),
    ],
    create_missing: Annotated[
        bool,
        typer.Option(
            "--create-missing",
            help="Add an instrument for each unknown symbol (decimals from its prices).",
        ),
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="Entries read, written and acked at once.")
    ] = redis_feed.DEFAULT_BATCH,
    block: Annotated[
        float,
        typer.Option(min=0.01, max=60, help="Seconds a read waits for new entries."),
    ] = redis_feed.DEFAULT_BLOCK,
    summary_every: Annotated[
        float, typer.Option(min=0.1, help="Seconds between summary lines.")
    ] = 60.0,
) -> None:
    """Write the ticks of a Redis stream as they come, until SIGINT or SIGTERM.

    Reads as a consumer group (created from the stream's start if missing); each entry is
    one tick (fields symbol, price, ts; or a JSON object in a field tick or data). A batch
    is acknowledged only once written with its position; a bad entry is reported, copied
    to STREAM:rejected with a reason, and acknowledged.
    """
    try:
        source = redis_feed.parse_source(url)
    except redis_feed.FeedUnusable as bad:
        typer.echo(f"error: {bad}", err=True)
        raise typer.Exit(code=2) from None
    engine = _migrated_engine(Settings())
    client = redis_feed.connect(source, block=block)
    stop = threading.Event()

    def stopping(signum: int, _frame: object) -> None:
        stop.set()  # the batch being written is finished; a second signal ends it at once
        signal.signal(signum, signal.SIG_DFL)

    def rejected(entry: redis_feed.Rejected) -> None:
        shown = f" ({entry.symbol})" if entry.symbol else ""
        typer.echo(f"rejected entry {entry.entry_id}{shown}: {entry.reason}", err=True)

    connector = redis_feed.RedisFeed(
        source=source,
        client=client,
        open_session=session_factory(engine),
        create_missing=create_missing,
        batch=batch,
        block=block,
        on_rejected=rejected,
        on_notice=lambda text: typer.echo(f"feed: {text}", err=True),
        on_summary=lambda counts: typer.echo(f"feed: {counts.summary()}"),
        summary_every=summary_every,
    )
    previous = {s: signal.signal(s, stopping) for s in (signal.SIGINT, signal.SIGTERM)}
    typer.echo(
        f"reading {source.stream!r} at {source.shown} as {source.group}/{source.consumer}; "
        f"bad entries go to {source.rejected_stream!r}"
    )
    try:
        counts = connector.run(stop)
    except redis_feed.StoreFailed as failed:
        typer.echo(
            f"error: {failed}; {connector.counts.summary()} before it. The batch stays "
            "pending in Redis and is read again at the next start",
            err=True,
        )
        raise typer.Exit(code=1) from None
    except redis_feed.FeedUnusable as bad:
        typer.echo(f"error: {bad}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        client.close()
        engine.dispose()
    typer.echo(f"stopped: {counts.summary()}")


def _count_lines(file: Path) -> int:
    """Lines in ``file`` (a quick pass over its bytes, for the progress bar)."""
    with file.open("rb") as raw:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ingest_ticks.time_zone(name)
    except ValueError as unknown:
        typer.echo(f"error: {unknown}", err=True)
        raise typer.Exit(code=1) from None


instruments_app = typer.Typer(
    help="List, add, change and retire instruments.", no_args_is_help=True
)
app.add_typer(instruments_app, name="instruments")

_KIND_HELP = "equity, fx, crypto, index, commodity, … (lower case)"


@instruments_app.command("list")
def instruments_list(
    retired: Annotated[bool, typer.Option("--retired", help="Retired ones too.")] = False,
) -> None:
    """The instruments in dashboard order, one per line."""
    engine = _migrated_engine(Settings())
    with session_factory(engine)() as session:
        rows = instruments.all_instruments(session=session, include_retired=retired)
        typer.echo(f"{'SYMBOL':<20} {'KIND':<10} {'DEC':>3} {'TTL S':>7} {'CCY':<3}  NAME")
        for i in rows:
            flags = " (simulated)" if i.simulated else ""
            flags += " (retired)" if i.retired_at is not None else ""
            typer.echo(
                f"{i.symbol:<20} {i.kind:<10} {i.decimals:>3} {i.ttl_seconds:>7} "
                f"{i.currency or '':<3}  {i.name}{flags}"
            )


@instruments_app.command("add")
def instruments_add(
    symbol: Annotated[str, typer.Argument(help="e.g. MSFT, EUR-USD, BTC-USD")],
    name: Annotated[str | None, typer.Option(help="Shown on the tile (default: SYMBOL).")] = None,
    kind: Annotated[str, typer.Option(help=_KIND_HELP)] = "equity",
    decimals: Annotated[int, typer.Option(help="Decimals shown, 0-8.")] = 2,
    ttl: Annotated[int, typer.Option(help="Seconds without a tick before it shows stale.")] = 3600,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. USD.")] = None,
) -> None:
    """Add a real instrument (the simulated feed never writes its prices)."""
    fields = {"symbol": symbol, "name": name, "kind": kind, "decimals": decimals}
    with _instrument_errors_reported():
        new = instruments.parse_new({**fields, "ttl_seconds": ttl, "currency": currency})
        with session_scope(session_factory(_migrated_engine(Settings()))) as session:
            added = instruments.add(session=session, new=new)
    typer.echo(f"added {added.symbol} ({added.name}, {added.kind}, {added.decimals} decimals)")


@instruments_app.command("set")
def instruments_set(
    symbol: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help=_KIND_HELP)] = None,
    decimals: Annotated[int | None, typer.Option(help="Decimals shown, 0-8.")] = None,
    ttl: Annotated[int | None, typer.Option(help="Seconds before it shows stale.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. USD.")] = None,
    active: Annotated[
        bool, typer.Option("--active", help="Bring a retired instrument back.")
    ] = False,
) -> None:
    """Change an instrument; running servers show it within a minute."""
    fields = {"name": name, "kind": kind, "decimals": decimals, "currency": currency}
    with _instrument_errors_reported():
        changes = instruments.parse_changes({**fields, "ttl_seconds": ttl})
        with session_scope(session_factory(_migrated_engine(Settings()))) as session:
            changed = instruments.change(session=session, symbol=symbol, changes=changes)
            if active:
                changed = instruments.retire(session=session, symbol=symbol, retired=False)
    typer.echo(f"changed {changed.symbol}")


@instruments_app.command("retire")
def instruments_retire(symbol: Annotated[str, typer.Argument()]) -> None:
    """Take an instrument off the screens and refuse its new ticks; its history stays."""
    engine = _migrated_engine(Settings())
    with _instrument_errors_reported(), session_scope(session_factory(engine)) as session:
        instruments.retire(session=session, symbol=symbol)
    typer.echo(
        f"retired {symbol} (bring it back with `dashboard instruments set {symbol} --active`)"
    )


@contextmanager
def _instrument_errors_reported() -> Iterator[None]:
    try:
        yield
    except instruments.InstrumentInvalid as invalid:
        typer.echo(f"error: {invalid}; nothing was written", err=True)
        raise typer.Exit(code=1) from None
    except instruments.InstrumentNotFound as missing:
        typer.echo(f"error: {missing} (see `dashboard instruments list --retired`)", err=True)
        raise typer.Exit(code=1) from None


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    symbol: Annotated[
        str,
        typer.Option(
            help="The instrument played: a file with a symbol column plays only its rows; "
            "a file with one series is played as it."
        ),
    ],
    rate: Annotated[float, typer.Option(min=0.01, help="Ticks per second.")] = 10.0,
) -> None:
    """Play a recorded series from FILE as live ticks of SYMBOL, RATE per second."""
    engine = _migrated_engine(Settings())
    with _bad_input_reported(file):
        records, lines = ingest_ticks.read_records(
            _file_text(file), kind=ingest_ticks.kind_of(file)
        )
        # A file of several series plays SYMBOL's rows only (it once played them all as one).
        in_file = {r.get("symbol") for r in records if isinstance(r, dict)} - {None, ""}
        if in_file and symbol not in in_file:
            problem = f"no rows for {symbol} in the file's symbol column ({len(in_file)} others)"
            raise ingest_ticks.IngestInvalid([ingest_ticks.ItemError(0, problem)])
        chosen = [
            (record, line)
            for record, line in zip(records, lines, strict=True)
            if not in_file or (isinstance(record, dict) and record.get("symbol") == symbol)
        ]
        # The recorded times are not kept: each value becomes a tick stamped as it plays.
        parsed = ingest_ticks.parse_records(
            [
                {"price": r.get("price", r.get("value")) if isinstance(r, dict) else r}
                for r, _n in chosen
            ],
            default_symbol=symbol,
            lines=[n for _r, n in chosen],
            max_items=None,
        )
        open_session = session_factory(engine)
        with open_session() as session:
            ingest_ticks.instrument_ids(session=session, symbols=[symbol])
        interval = 1.0 / rate
        started = time.monotonic()
        with typer.progressbar(parsed, label=f"replaying {symbol}") as bar:
            for n, tick in enumerate(bar):
                with session_scope(open_session) as session:
                    ingest_ticks.write(
                        session=session,
                        ticks=[ingest_ticks.TickIn(symbol=symbol, price=tick.price, ts=utcnow())],
                    )
                delay = started + (n + 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    typer.echo(f"replayed {len(parsed)} ticks of {symbol}")


@app.command()
def tail(
    url: Annotated[str, typer.Option(help="The dashboard's address.")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="DASHBOARD_TOKEN", help="API token (or DASHBOARD_TOKEN).")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Only these symbols, e.g. BTC-USD,ACME.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Raw NDJSON lines.")] = False,
    after: Annotated[
        int | None, typer.Option(help="Replay my notifications after this id.")
    ] = None,
    keepalive_interval: Annotated[
        float,
        typer.Option(
            envvar="DASHBOARD_KEEPALIVE_INTERVAL",
            help="The server's keep-alive interval in seconds (or DASHBOARD_KEEPALIVE_INTERVAL):"
            " two of them without a byte and the stream is taken for dead and reconnected.",
        ),
    ] = DEFAULT_KEEPALIVE_INTERVAL,
    connect_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a connection before saying so.")
    ] = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    """Follow the live stream in the terminal; reconnects and resumes by itself.

    Events go to stdout. Connection news goes to stderr at once, one line each: a server
    it cannot reach (each retry), a stream lost or silent, and each connection made.
    """

    def tell(status: StreamStatus) -> None:
        if status.state != "closed":  # a refusal is reported below; ^C needs no words
            typer.echo(status.message, err=True)

    try:
        stream = StreamClient(
            url,
            token=token,
            symbols=[s.strip() for s in symbols.split(",") if s.strip()] if symbols else None,
            after=after,
            connect_timeout=connect_timeout,
            keepalive_interval=keepalive_interval,
            on_status=tell,
        )
    except ValueError as bad:
        typer.echo(f"error: {bad}", err=True)
        raise typer.Exit(code=2) from None
    try:
        for event in stream:
            typer.echo(_json_line(event) if as_json else _pretty(event))
    except StreamRefused as refused:
        typer.echo(f"error: the server refused the stream ({refused})", err=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        pass


def _pretty(event: Event) -> str:
    if isinstance(event, PriceEvent):
        when = f"{event.ts:%H:%M:%S}" if event.ts else "--:--:--"
        stale = "  (stale)" if event.stale else ""
        return f"{when}  {event.symbol:<10} {event.price}{stale}"
    body = f" - {event.body}" if event.body else ""
    return f"{event.created_at:%H:%M:%S}  [{event.severity}] #{event.id} {event.title}{body}"


def _json_line(event: Event) -> str:
    if isinstance(event, PriceEvent):
        return json.dumps(
            {
                "type": "price",
                "symbol": event.symbol,
                "price": event.price,
                "ts": event.ts.isoformat() if event.ts else None,
                "tick_id": event.tick_id,
                "stale": event.stale,
                "reference_price": event.reference_price,
            }
        )
    return json.dumps(
        {
            "type": "notification",
            "id": event.id,
            "title": event.title,
            "body": event.body,
            "severity": event.severity,
            "created_at": event.created_at.isoformat(),
            "link": event.link,
        }
    )


def _file_text(file: Path) -> str:
    return file.read_text(encoding="utf-8")


@contextmanager
def _bad_input_reported(file: Path) -> Iterator[None]:
    """Bad items or an unreadable file: say which, exit 1; nothing was written."""
    try:
        yield
    except ingest_ticks.IngestInvalid as invalid:
        _report_invalid(invalid)
    except (UnicodeDecodeError, ValueError) as bad:
        typer.echo(f"error: cannot read {file}: {bad}", err=True)
        raise typer.Exit(code=1) from None


def _report_invalid(invalid: ingest_ticks.IngestInvalid) -> NoReturn:
    """Every kind of problem once, with how many items have it and where the first are."""
    kinds: dict[str, list[ingest_ticks.ItemError]] = {}
    for error in invalid.errors:
        kinds.setdefault(error.error, []).append(error)
    shown_kinds, shown_places = 20, 5
    for problem, errors in list(kinds.items())[:shown_kinds]:
        places = ", ".join(
            f"{e.where}{f' ({e.symbol})' if e.symbol else ''}" for e in errors[:shown_places]
        )
        count = invalid.counts.get(problem, len(errors))
        more = f" and {count - shown_places} more" if count > shown_places else ""
        typer.echo(f"{places}{more}: {problem}", err=True)
    if len(kinds) > shown_kinds:
        typer.echo(f"… and {len(kinds) - shown_kinds} more kinds of problem", err=True)
    if "symbol is missing" in kinds:
        typer.echo(
            "hint: for a file of one series, say its symbol with --symbol SYMBOL; "
            "for a column of symbols, name it with --symbol-column",
            err=True,
        )
    typer.echo(f"error: {invalid}", err=True)
    raise typer.Exit(code=1)


def _migrated_engine(settings: Settings) -> Engine:
    """The store's engine, or a clear error (not a traceback) when it needs migrating."""
    engine = make_engine(settings.database_url)
    try:
        schema.check_current(engine)
    except schema.SchemaOutdated as outdated:
        typer.echo(f"error: {outdated}", err=True)
        raise typer.Exit(code=1) from None
    return engine


def _display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
