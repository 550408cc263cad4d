from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.models import Instrument, Tick, Topic, User
from dashboard.store.db import make_engine

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DASHBOARD_DATABASE_URL", url)
    monkeypatch.delenv("DASHBOARD_DEMO_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


def test_migrate_then_demo_is_idempotent_and_prints_a_generated_password_once(cli_env: str) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert "users created: admin, alice, bob; their password (shown once): " in first.output
    password = first.output.rsplit(": ", 1)[1].strip()
    assert len(password) >= 12
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0
    assert password not in second.output
    assert "already exist" in second.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert len(session.exec(select(Instrument)).all()) == 12
        assert len(session.exec(select(Topic)).all()) == 4
        users = {u.username: u for u in session.exec(select(User)).all()}
        assert set(users) == {"admin", "alice", "bob"}
        assert users["admin"].is_admin and not users["alice"].is_admin
    engine.dispose()


def test_demo_uses_the_configured_password(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_DEMO_PASSWORD", "a-known-password")
    runner.invoke(app, ["migrate"])
    result = runner.invoke(app, ["demo"])
    assert "password from DASHBOARD_DEMO_PASSWORD" in result.output
    assert "a-known-password" not in result.output


def test_create_user_and_its_errors(cli_env: str) -> None:
    runner.invoke(app, ["migrate"])
    ok = runner.invoke(app, ["create-user", "carol", "--admin"], input="long-enough\nlong-enough\n")
    assert ok.exit_code == 0 and "created admin carol" in ok.output
    taken = runner.invoke(app, ["create-user", "carol"], input="long-enough\nlong-enough\n")
    assert taken.exit_code == 1 and "taken" in taken.output
    short = runner.invoke(app, ["create-user", "dave"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 8" in short.output


def test_commands_refuse_an_unmigrated_store(cli_env: str) -> None:
    for command in (["demo"], ["create-user", "x1", "--password", "long-enough"], ["serve"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert "error: the database is at no revision" in result.output
        assert "run `dashboard migrate` first" in result.output


def test_ingest_writes_a_file_all_or_nothing(cli_env: str, tmp_path: Path) -> None:
    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["demo"])
    good = tmp_path / "good.json"
    good.write_text('[{"value": 1.1}, {"value": 1.2}, {"value": 1.3}]')
    result = runner.invoke(app, ["ingest", str(good), "--symbol", "EUR-USD"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 ticks" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,price\nEUR-USD,1.4\nNOPE,1\nEUR-USD,-2\n")
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    # Every kind of problem in one pass, at its 1-based line (the header is line 1).
    assert "line 4 (EUR-USD): price must be a finite number above 0" in result.output
    assert "line 3 (NOPE): unknown symbol (1 item(s) of this symbol)" in result.output
    assert "nothing was written" in result.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        eur = session.exec(select(Instrument).where(Instrument.symbol == "EUR-USD")).one()
        newest = session.exec(
            select(Tick.price)
            .where(Tick.instrument_id == eur.id)
            .order_by(col(Tick.id).desc())
            .limit(3)
        ).all()
        rejected = session.exec(select(Tick).where(Tick.price == 1.4)).all()
    engine.dispose()
    assert list(newest) == [1.3, 1.2, 1.1]
    assert rejected == []


def test_ingest_reads_a_headerless_dump_by_column_positions_and_hints_at_a_missing_symbol(
    cli_env: str, tmp_path: Path
) -> None:
    runner.invoke(app, ["migrate"])
    dump = tmp_path / "trades.csv"
    dump.write_text("1733500000123,ETHUSD,3901.53,0.01\n1733500000456,ETHUSD,3902.5,0.2\n")
    columns = ["--time-column", "1", "--symbol-column", "2", "--price-column", "3"]
    result = runner.invoke(app, ["ingest", str(dump), *columns, "--create-missing"])
    assert result.exit_code == 0, result.output
    assert "created 1 instrument: ETHUSD\n" in result.output and "wrote 2 ticks" in result.output
    again = runner.invoke(app, ["ingest", str(dump), *columns])
    assert again.exit_code == 0 and "wrote 2 ticks" in again.output
    assert (
        "note: ETHUSD already had prices from 2024-12-06 15:46 to 2024-12-06 15:46 UTC "
        "(2 ticks): if this file was imported before, its ticks are now stored twice"
    ) in again.output
    binance = tmp_path / "binance.csv"
    binance.write_text("1,97000.10,0.01,970.0,1733500000123,true,true\n")
    result = runner.invoke(app, ["ingest", str(binance), "--create-missing"])
    assert result.exit_code == 1
    assert "line 1: symbol is missing" in result.output
    assert "hint: for a file of one series, say its symbol with --symbol SYMBOL" in result.output


def test_replay_plays_a_small_file_in_order(cli_env: str, tmp_path: Path) -> None:
    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["demo"])
    recorded = tmp_path / "series.ndjson"
    recorded.write_text("".join(f'{{"value": {100 + i}}}\n' for i in range(5)))
    result = runner.invoke(app, ["replay", str(recorded), "--symbol", "ACME", "--rate", "200"])
    assert result.exit_code == 0, result.output
    assert "replayed 5 ticks of ACME" in result.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        acme = session.exec(select(Instrument).where(Instrument.symbol == "ACME")).one()
        ticks = session.exec(
            select(Tick).where(Tick.instrument_id == acme.id).order_by(col(Tick.id).desc()).limit(5)
        ).all()
    engine.dispose()
    assert [t.price for t in reversed(ticks)] == [100, 101, 102, 103, 104]
    assert [t.ts for t in reversed(ticks)] == sorted(t.ts for t in ticks)
    missing = runner.invoke(app, ["replay", str(recorded), "--symbol", "NOPE"])
    assert missing.exit_code == 1 and "unknown symbol" in missing.output


def test_create_token_prints_a_working_token_on_its_last_line(cli_env: str) -> None:
    from dashboard.accounts import tokens

    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["demo"])
    result = runner.invoke(app, ["create-token", "alice", "--name", "bot"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    engine = make_engine(cli_env)
    with Session(engine) as session:
        user = tokens.user_for(session=session, token=token)
        assert user is not None and user.username == "alice"
    engine.dispose()
    missing = runner.invoke(app, ["create-token", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_create_token_with_scope_feed_makes_a_token_that_only_writes_ticks(cli_env: str) -> None:
    from dashboard.accounts import tokens

    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["demo"])
    result = runner.invoke(app, ["create-token", "alice", "--name", "feed", "--scope", "feed"])
    assert result.exit_code == 0, result.output
    assert "scope feed" in result.output
    token = result.output.strip().splitlines()[-1]
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert tokens.user_for(session=session, token=token) is None
        assert tokens.feeder_for(session=session, token=token) is not None
        count = len(tokens.list_for(session=session, user_id=1))
    engine.dispose()
    wrong = runner.invoke(app, ["create-token", "alice", "--scope", "root"])
    assert wrong.exit_code == 2 and "--scope must be one of all, feed" in wrong.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert len(tokens.list_for(session=session, user_id=1)) == count
    engine.dispose()


def test_instruments_are_added_listed_changed_and_retired_without_sql(
    cli_env: str, tmp_path: Path
) -> None:
    runner.invoke(app, ["migrate"])
    added = runner.invoke(
        app, ["instruments", "add", "MSFT", "--name", "Microsoft", "--currency", "USD"]
    )
    assert added.exit_code == 0, added.output
    assert "added MSFT (Microsoft, equity, 2 decimals)" in added.output
    twice = runner.invoke(app, ["instruments", "add", "MSFT"])
    assert twice.exit_code == 1 and "'MSFT' exists already; nothing was written" in twice.output
    bad = runner.invoke(app, ["instruments", "add", "a b", "--decimals", "9"])
    assert bad.exit_code == 1 and "symbol: 1-20 letters" in bad.output and "decimals" in bad.output
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "symbol,price,ts\nAAPL,190.5,2026-11-01T10:00:00Z\nGOOG,140.123,2026-11-01T10:00:00Z\n"
        "AAPL,191,2026-11-02T10:00:00Z\n"
    )
    refused = runner.invoke(app, ["ingest", str(prices)])
    assert refused.exit_code == 1
    assert "line 2 (AAPL): unknown symbol (2 item(s) of this symbol)" in refused.output
    assert "line 3 (GOOG): unknown symbol (1 item(s) of this symbol)" in refused.output
    assert "error: 3 bad item(s); nothing was written" in refused.output  # was "2"
    created = runner.invoke(app, ["ingest", str(prices), "--create-missing"])
    assert created.exit_code == 0 and "wrote 3 ticks" in created.output
    changed = runner.invoke(
        app, ["instruments", "set", "GOOG", "--name", "Alphabet", "--ttl", "86400"]
    )
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(app, ["instruments", "retire", "AAPL"]).exit_code == 0
    listed = runner.invoke(app, ["instruments", "list"]).output
    assert "MSFT" in listed and "Alphabet" in listed and "AAPL" not in listed
    assert "86400" in listed and " 3 " in listed  # GOOG: decimals inferred, ttl changed
    every = runner.invoke(app, ["instruments", "list", "--retired"]).output
    assert "AAPL" in every and "(retired)" in every
    late = runner.invoke(app, ["ingest", str(prices)])
    assert late.exit_code == 1 and "instrument retired" in late.output
    back = runner.invoke(app, ["instruments", "set", "AAPL", "--active"])
    assert back.exit_code == 0
    missing = runner.invoke(app, ["instruments", "retire", "NOPE"])
    assert missing.exit_code == 1 and "no instrument 'NOPE'" in missing.output


def test_a_file_of_real_monthly_prices_goes_in_with_its_dates(cli_env: str, tmp_path: Path) -> None:
    # Was: the date column was ignored (every row stamped "now"), and the import said
    # nothing about the retention that deleted the history a minute later.
    runner.invoke(app, ["migrate"])
    monthly = tmp_path / "monthly.csv"
    rows = [f"MSFT,2016-{m:02d}-01,{50 + m}.25" for m in range(1, 13)]
    rows += [f"AAPL,2016-{m:02d}-01,{90 + m}.5" for m in range(12, 0, -1)]  # newest first
    monthly.write_text("\ufeffSymbol,Date,Price\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["ingest", str(monthly), "--create-missing"])
    assert result.exit_code == 0, result.output
    assert "wrote 24 ticks" in result.output
    assert "note: 24 of these ticks are older than the tick retention (48 h)" in result.output
    assert "kept as hour and day bars" in result.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        msft = session.exec(select(Instrument).where(Instrument.symbol == "MSFT")).one()
        stamps = session.exec(
            select(Tick.ts).where(Tick.instrument_id == msft.id).order_by(col(Tick.ts))
        ).all()
    engine.dispose()
    assert [t.month for t in stamps] == list(range(1, 13))
    assert {t.year for t in stamps} == {2016}


def test_replay_plays_only_its_symbols_rows_from_a_file_of_several(
    cli_env: str, tmp_path: Path
) -> None:
    # Was: `replay FILE --symbol MSFT` played every stock in the file as one series.
    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["instruments", "add", "MSFT"])
    several = tmp_path / "several.csv"
    several.write_text("symbol,price\nMSFT,50\nAAPL,90\nMSFT,51\nAAPL,91\n")
    result = runner.invoke(app, ["replay", str(several), "--symbol", "MSFT", "--rate", "500"])
    assert result.exit_code == 0, result.output
    assert "replayed 2 ticks of MSFT" in result.output
    engine = make_engine(cli_env)
    with Session(engine) as session:
        prices = session.exec(select(Tick.price).order_by(col(Tick.id))).all()
    engine.dispose()
    assert list(prices) == [50.0, 51.0]
    other = runner.invoke(app, ["replay", str(several), "--symbol", "GOOG"])
    assert other.exit_code == 1 and "no rows for GOOG" in other.output


def test_ingest_reads_stdin_whole_or_follows_it(cli_env: str) -> None:
    runner.invoke(app, ["migrate"])
    runner.invoke(app, ["instruments", "add", "ACME"])
    whole = runner.invoke(app, ["ingest", "-", "--format", "csv"], input="symbol,price\nACME,1\n")
    assert whole.exit_code == 0 and "wrote 1 ticks" in whole.output
    followed = runner.invoke(
        app,
        ["ingest", "-", "--follow"],
        input='{"symbol": "ACME", "price": 2}\nnot json\n{"symbol": "ACME", "price": 3}\n',
    )
    assert followed.exit_code == 1, followed.output  # was 0: a script could not tell
    assert "skipped line 2: not JSON" in followed.output
    assert "wrote 2 ticks, skipped 1 lines" in followed.output
    dated = runner.invoke(
        app,
        ["ingest", "-", "--follow", "--format", "csv", "--symbol", "ACME"],
        input="Datum,price\n02.01.2024,5\n",
    )
    assert dated.exit_code == 1 and "column 'Datum' holds times" in dated.output  # was 0
    clean = runner.invoke(
        app, ["ingest", "-", "--follow"], input='{"symbol": "ACME", "price": 4}\n'
    )
    assert clean.exit_code == 0 and "wrote 1 ticks, skipped 0 lines" in clean.output
    missing = runner.invoke(app, ["ingest", "nope.csv"])
    assert missing.exit_code == 1 and "no file 'nope.csv'" in missing.output
    unknown = runner.invoke(app, ["ingest", "-", "--format", "xml"], input="")
    assert unknown.exit_code == 1 and "unknown format 'xml'" in unknown.output


def test_tail_refuses_an_address_it_cannot_use_before_trying() -> None:
    result = runner.invoke(app, ["tail", "--url", "localhost:8000"])
    assert result.exit_code == 2
    assert "must start with http:// or https://" in result.stderr
    result = runner.invoke(app, ["tail", "--keepalive-interval", "0"])
    assert result.exit_code == 2 and "above 0 seconds" in result.stderr


def test_tail_tells_stderr_each_change_of_connection_and_stdout_only_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notification = (
        '{"type":"notification","id":5,"title":"hi","body":"","severity":"info",'
        '"created_at":"2026-11-21T12:00:05+00:00","link":null,"read":false}'
    )
    answers = [
        httpx.Response(503, text="restarting"),
        httpx.Response(
            200,
            content=f'{{"type":"ready","after":4}}\n{notification}\n\n'
            '{"type":"end","reason":"shutdown"}\n'.encode(),
        ),
        httpx.Response(401, json={"detail": "Invalid or revoked API token."}),
    ]
    timeouts: list[httpx.Timeout] = []
    real_client = httpx.Client

    def client(*, timeout: httpx.Timeout) -> httpx.Client:
        timeouts.append(timeout)
        return real_client(
            timeout=timeout, transport=httpx.MockTransport(lambda request: answers.pop(0))
        )

    monkeypatch.setattr(httpx, "Client", client)
    monkeypatch.setattr(random, "uniform", lambda low, high: 0.0)  # no backoff to wait out
    monkeypatch.setenv("DASHBOARD_KEEPALIVE_INTERVAL", "4")
    result = runner.invoke(
        app,
        ["tail", "--url", "http://example.invalid", "--token", "dash_t", "--connect-timeout", "1"],
    )
    assert result.exit_code == 1
    assert result.stdout == "12:00:05  [info] #5 hi\n"
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "http://example.invalid answered HTTP 503 Service Unavailable; retrying in 0 s (attempt 2)"
    )
    assert re.fullmatch(
        r"connected to http://example\.invalid after [\d.]+ s \(attempt 2\)", lines[1]
    )
    assert lines[2:] == [
        "http://example.invalid ended the stream: shutdown; reconnecting in 0 s (attempt 1)",
        "error: the server refused the stream (401: Invalid or revoked API token.)",
    ]
    assert "dash_t" not in result.stderr
    # The stream is taken for dead after two of the server's keep-alive intervals.
    assert (timeouts[0].connect, timeouts[0].read) == (1.0, 8.0)


def test_regression_commands_start_without_the_web_server_or_the_postgresql_driver() -> None:
    # Every command paid for importing FastAPI (through the logging set-up), uvicorn and
    # psycopg: about a third of a second of every command (`dashboard ingest`, say).
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, dashboard.cli; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'psycopg') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
