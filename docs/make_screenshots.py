"""Regenerate the README's screenshots from a seeded demo (``make screenshots``).

Starts the real app with the simulated feed on a throw-away SQLite file, lets prices move,
posts notifications as the admin would, and photographs what alice and the admin see.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlmodel import Session, select

from dashboard.demo import backfill, seed
from dashboard.inbox import actions, compose
from dashboard.models import Instrument, User
from dashboard.prices import watchlists
from dashboard.settings import Settings
from dashboard.store import schema
from dashboard.store.db import make_engine
from dashboard.web.app import create_app

OUT = Path(__file__).resolve().parent / "images"
PASSWORD = "screenshot-password"
CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the demo server")
        time.sleep(0.05)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


LIST_KINDS = ("equity", "fx", "crypto", "index")


def add_instruments_for_the_list(session: Session) -> None:
    """Fifty instruments in all, each with a day of invented history, for the list view."""
    rng = random.Random(50)
    existing = len(session.exec(select(Instrument)).all())
    for i in range(existing, 50):
        kind = LIST_KINDS[i % len(LIST_KINDS)]
        instrument = Instrument(
            symbol=f"{kind[:2].upper()}{i:02d}",
            name=f"Sample {kind} {i}",
            kind=kind,
            decimals=4 if kind == "fx" else 2,
            seed_price=round(rng.uniform(1, 4) if kind == "fx" else rng.uniform(20, 900), 4),
            ttl_seconds=20,
            position=i,
            simulated=True,
        )
        session.add(instrument)
        session.commit()
        session.refresh(instrument)
        backfill(session, instrument, rng)
    session.commit()


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dashboard-screens-"))
    url = f"sqlite:///{workdir / 'demo.db'}"
    schema.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed(session=session, password=PASSWORD)
        demo_symbols = list(session.exec(select(Instrument.symbol)).all())
        add_instruments_for_the_list(session)
        # alice keeps the demo's twelve; the list view is shown with all fifty.
        alice = session.exec(select(User).where(User.username == "alice")).one()
        assert alice.id is not None
        watchlists.save(session=session, user_id=alice.id, symbols=demo_symbols)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key="screenshots-only-secret-key",
        feed_interval=0.1,
        feed_ticks_per_second=4,
    )
    port = free_port()
    app = create_app(settings)
    live = app.state.runtime.live  # posted as the admin form does: delivered at once
    server = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    base = f"http://127.0.0.1:{port}"
    OUT.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for scheme, name, viewport in (
            ("light", "dashboard.png", {"width": 1280, "height": 760}),
            ("dark", "dashboard-dark.png", {"width": 1280, "height": 760}),
            ("light", "dashboard-mobile.png", {"width": 390, "height": 844}),
        ):
            context = browser.new_context(color_scheme=scheme, viewport=viewport)  # type: ignore[arg-type]
            page = context.new_page()
            log_in(page, base, "alice")
            page.locator("#connection", has_text="live").wait_for()
            if name == "dashboard.png":
                with Session(engine) as session:
                    admin = session.exec(select(User).where(User.username == "admin")).one()
                    for draft in (
                        compose.Draft(
                            title="Markets open",
                            body="Equities and FX are trading.",
                            audience="topic",
                            topic="markets",
                            severity="success",
                        ),
                        compose.Draft(
                            title="BTC volatility is high",
                            body="Moves above 2% in the last hour.",
                            audience="topic",
                            topic="crypto",
                            severity="warning",
                        ),
                    ):
                        actions.post(session=session, live=live, draft=draft, created_by=admin.id)
                page.locator("#unread-count", has_text="3").wait_for()
            time.sleep(1.5)  # let a few ticks flash: this is a photograph, not a test
            page.screenshot(path=str(OUT / name), full_page=name != "dashboard-mobile.png")
            if name == "dashboard-mobile.png":
                page.get_by_role("button", name="Inbox").click()
                page.locator("#inbox-panel.is-open").wait_for()
                time.sleep(0.3)  # the drawer slides in
                page.screenshot(path=str(OUT / "dashboard-mobile-inbox.png"))
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        log_in(page, base, "alice")
        page.goto(f"{base}/instruments/BTC-USD")
        page.locator("#chart-state", has_text="live").wait_for()
        page.get_by_label("Level").fill("100000")
        page.get_by_role("button", name="Set alert").click()
        page.locator(".alert-item", has_text="100,000.00").wait_for()
        time.sleep(3)  # a few seconds of live points on the chart
        page.screenshot(path=str(OUT / "instrument.png"), full_page=True)
        context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        log_in(page, base, "alice")
        page.goto(f"{base}/notifications")
        page.locator("#connection", has_text="live").wait_for()
        with Session(engine) as session:
            actions.post(
                session=session,
                live=live,
                draft=compose.Draft(
                    title="Exchange connectivity degraded",
                    body="Orders may be delayed; we are on it.",
                    severity="critical",
                ),
                created_by=None,
            )
        page.locator(".toast").wait_for()
        page.screenshot(path=str(OUT / "notifications.png"), full_page=True)
        context.close()
        for scheme, name, viewport in (
            ("light", "list.png", {"width": 1280, "height": 900}),
            ("dark", "list-dark.png", {"width": 1280, "height": 900}),
            ("light", "list-mobile.png", {"width": 390, "height": 844}),
        ):
            context = browser.new_context(color_scheme=scheme, viewport=viewport)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(base)  # anonymous: every instrument
            page.locator("#connection", has_text="live").wait_for()
            page.get_by_role("button", name="List").click()
            page.get_by_label("Group by kind").check()
            page.locator("select[name=sort]").select_option("pct")
            page.locator("select[name=sort]").evaluate("el => el.blur()")
            time.sleep(1.5)  # a few live updates: this is a photograph, not a test
            page.screenshot(path=str(OUT / name))
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        log_in(page, base, "admin")
        page.goto(f"{base}/admin")
        page.screenshot(path=str(OUT / "admin.png"), full_page=True)
        context.close()
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    print(f"screenshots written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
