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
        # Past 4,300 digits int() raises ValueError: this was a 500 and a traceback.
        ("user=" + "9" * 5000, f"user: a whole number from 1 to {MAX_ROW_ID}"),
    ],
)
def test_a_bad_query_is_a_422_with_the_reason(client: TestClient, query: str, reason: str) -> None:
    response = client.get(f"/events?{query}", headers={"Accept": "text/event-stream"})
    assert response.status_code == 422
    assert response.json() == {"detail": reason}


def test_head_is_refused_before_any_look_up(client: TestClient) -> None:
    # A plain Starlette route answers HEAD too; a stream has no head to give.
    response = client.head("/events")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
