"""The WebSocket route's writes: a socket whose login or token has ended writes nothing,
even in the moment before the credential poller closes it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from dashboard.accounts import logins, tokens
from dashboard.live.session import Subscriber
from dashboard.models import NotificationRead
from dashboard.runtime import Runtime
from dashboard.web.routes import ws
from tests.factories import add_notification, make_user


@pytest.mark.parametrize("credential", ["token", "login"])
def test_a_socket_whose_credential_ended_cannot_mark_read(
    app: FastAPI, session: Session, credential: str
) -> None:
    runtime: Runtime = app.state.runtime
    alice = make_user(session, "alice")
    assert alice.id is not None
    note = add_notification(session, "hello")
    assert note.id is not None
    if credential == "token":
        token_id = tokens.issue(session=session, user_id=alice.id, name="bot")[0].id
        assert token_id is not None
        subscriber = Subscriber(user_id=alice.id, token_id=token_id)
    else:
        login_id = logins.start(session=session, user_id=alice.id, address=None, user_agent=None)[
            0
        ].id
        assert login_id is not None
        subscriber = Subscriber(user_id=alice.id, login_session=login_id)
    badge = ws._mark_read(runtime, subscriber, note.id)
    assert badge is not None and badge.count == 0
    assert session.get(NotificationRead, (alice.id, note.id)) is not None
    other = add_notification(session, "after the end")
    assert other.id is not None
    if subscriber.token_id is not None:
        assert tokens.revoke(session=session, user_id=alice.id, token_id=subscriber.token_id)
    else:
        assert subscriber.login_session is not None
        assert logins.end(session=session, login_id=subscriber.login_session)
    with pytest.raises(ws.CredentialEnded):
        ws._mark_read(runtime, subscriber, other.id)
    assert session.get(NotificationRead, (alice.id, other.id)) is None
