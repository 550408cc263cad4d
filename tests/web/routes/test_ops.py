"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.models import Audience
from tests.conftest import wait_until
from tests.factories import add_notification, add_tick, make_instrument, make_user


def test_healthz_and_readyz_when_everything_runs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    wait_until(lambda: client.get("/readyz").status_code == 200)
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["store"] == "ok" and ready["checks"]["tasks"] == "ok"
    assert ready["checks"]["poller:prices"].startswith("ok")


def test_readyz_is_503_with_the_reason_when_a_poller_has_stopped(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    wait_until(lambda: client.get("/readyz").status_code == 200)
    task = next(t for t in runtime._tasks if t.get_name() == "notification-poller")
    client.portal.call(lambda: task.cancel())  # type: ignore[union-attr]
    wait_until(lambda: task.done())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["tasks"] == "a background task has stopped"


def test_readyz_is_503_when_the_store_is_unreachable(client: TestClient) -> None:
    from sqlalchemy import create_engine

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    working = runtime.engine
    runtime.engine = create_engine("sqlite:////nonexistent-dir/none.db")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["store"].startswith("unreachable")
    finally:
        runtime.engine.dispose()
        runtime.engine = working


def test_metrics_count_streams_events_deliveries_and_ticks(
    client: TestClient, session: Session
) -> None:
    make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    connection = runtime.hub.connect(user_id=1, kind="ndjson")
    add_tick(session, acme, 10.0)
    add_notification(session, "hello", audience=Audience.everyone)
    runtime.price_poller.wake()
    runtime.notification_poller.wake()
    wait_until(lambda: runtime.hub.notices_published >= 1 and runtime.price_poller.ticks_seen >= 1)
    text = client.get("/metrics").text
    assert 'dashboard_open_streams{kind="ndjson"} 1.0' in text
    assert 'dashboard_events_published_total{kind="notification"} 1.0' in text
    assert "dashboard_deliveries_total" in text
    assert "dashboard_mailbox_overflows_total 0.0" in text
    assert "dashboard_ticks_total 1.0" in text
    assert 'dashboard_poll_lag_seconds{poller="prices"}' in text
    runtime.hub.disconnect(connection)
    assert 'dashboard_open_streams{kind="ndjson"} 0.0' in client.get("/metrics").text


def test_readyz_and_metrics_name_the_wal_and_its_size_past_the_threshold(
    limited_client: Callable[..., TestClient], session: Session
) -> None:
    # Was: a WAL growing without bound was reported nowhere (issue 18, item 13).
    client = limited_client(wal_warn_bytes=0)
    add_tick(session, make_instrument(session, "ACME"), 10.0)  # some pages in the WAL
    wait_until(lambda: client.get("/readyz").status_code == 200)
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"  # named, not failing: leaving would not shrink it
    assert ready["checks"]["wal"].startswith("warning: ") and "past 0 MB" in ready["checks"]["wal"]
    sizes = re.findall(r"^dashboard_sqlite_wal_bytes (\S+)$", client.get("/metrics").text, re.M)
    assert len(sizes) == 1 and float(sizes[0]) > 0
    roomy = limited_client().get("/readyz").json()["checks"]["wal"]
    assert roomy.startswith("ok (") and roomy.endswith(" MB)")
