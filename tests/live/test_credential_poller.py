"""The credential poller ends this process's streams for ends logged by any process, and
sweeps: open pages keep their logins alive, expired logins end, the old log is pruned."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from dashboard.accounts import credential_ends, logins, tokens
from dashboard.live.credential_poller import CredentialPoller
from dashboard.live.hub import Hub
from dashboard.models import LoginSession, utcnow
from dashboard.store.db import session_factory
from tests.factories import make_user

LIFETIMES = logins.Lifetimes(idle=timedelta(hours=2), absolute=timedelta(hours=24))


def poller_for(engine: Engine, hub: Hub, *, batch_size: int = 100) -> CredentialPoller:
    return CredentialPoller(
        open_session=session_factory(engine),
        hub=hub,
        lifetimes=LIFETIMES,
        interval=0.05,
        batch_size=batch_size,
    )


def test_ends_logged_after_the_cursor_end_exactly_those_streams(
    engine: Engine, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    signed_out = logins.start(session=session, user_id=alice.id, address=None, user_agent=None)[0]
    staying = logins.start(session=session, user_id=alice.id, address=None, user_agent=None)[0]
    token = tokens.issue(session=session, user_id=alice.id, name="bot")[0]
    assert signed_out.id and staying.id and token.id
    # An end logged before the process started is not replayed onto new streams.
    credential_ends.record(session=session, kind="login", credential_id=staying.id, reason="x")
    session.commit()
    hub = Hub(mailbox_size=4)
    poller = poller_for(engine, hub)
    asyncio.run(poller.prime())
    page = hub.connect(user_id=alice.id, login_session=signed_out.id)
    other_page = hub.connect(user_id=alice.id, login_session=staying.id)
    program = hub.connect(user_id=alice.id, token_id=token.id)
    assert asyncio.run(poller.poll_once()) is False
    assert not (page.closed or other_page.closed or program.closed)

    logins.end(session=session, login_id=signed_out.id)
    tokens.revoke(session=session, user_id=alice.id, token_id=token.id)
    asyncio.run(poller.poll_once())
    assert (page.end_reason, program.end_reason) == ("signed-out", "revoked")
    assert not other_page.closed
    poller.close()


def test_a_full_batch_asks_for_another_poll(engine: Engine, session: Session) -> None:
    for credential in range(3):
        credential_ends.record(session=session, kind="token", credential_id=credential, reason="r")
    session.commit()
    poller = poller_for(engine, Hub(mailbox_size=4), batch_size=2)
    assert asyncio.run(poller.poll_once()) is True
    assert asyncio.run(poller.poll_once()) is False
    poller.close()


def test_the_sweep_keeps_open_pages_alive_and_ends_expired_logins(
    engine: Engine, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    open_page = logins.start(session=session, user_id=alice.id, address=None, user_agent=None)[0]
    idle = logins.start(session=session, user_id=alice.id, address=None, user_agent=None)[0]
    open_id, idle_id = open_page.id, idle.id
    assert open_id and idle_id
    # Both last used longer ago than the idle lifetime; only one has a page open.
    past = utcnow() - LIFETIMES.idle - timedelta(minutes=1)
    logins.keep_alive(session=session, login_ids={open_id, idle_id}, now=past)
    hub = Hub(mailbox_size=4)
    page = hub.connect(user_id=alice.id, login_session=open_id)
    poller = poller_for(engine, hub)
    asyncio.run(poller.prime())
    before = poller.cursor
    asyncio.run(poller.poll_once())  # sweeps: the page's login kept, the idle one ended and logged
    session.expire_all()
    assert session.get(LoginSession, open_id) is not None
    assert session.get(LoginSession, idle_id) is None
    asyncio.run(poller.poll_once())  # the sweep's end is read like any other end
    assert poller.cursor == before + 1 and not page.closed
    poller.close()
