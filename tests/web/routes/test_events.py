"""``GET /events``'s own reading of its query (a plain Starlette route: no FastAPI
validation does it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dashboard.web.deps import MAX_ROW_ID


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("chart=" + "A" * 21, "chart: at most 20 characters"),
        ("user=0", f"user: a whole number from 1 to {MAX_ROW_ID}"),
        ("user=-3", f"user: a whole number from 1 to {MAX_ROW_ID}"),
        ("user=7x", f"user: a whole number from 1 to {MAX_ROW_ID}"),
        ("user=%EF%BC%97", f"user: a whole number from 1 to {MAX_ROW_ID}"),  # a wide "7"
        (f"user={MAX_ROW_ID + 1}", f"user: a whole number from 1 to {MAX_ROW_ID}"),
    ],
)
def test_a_bad_query_is_a_422_with_the_reason_and_opens_no_stream(
    client: TestClient, query: str, reason: str
) -> None:
    hub = client.app.state.runtime.hub  # type: ignore[attr-defined]
    response = client.get(f"/events?{query}", headers={"Accept": "text/event-stream"})
    assert response.status_code == 422
    assert response.json() == {"detail": reason}
    assert hub.connection_count == 0
