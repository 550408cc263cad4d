"""schemathesis over /openapi.json: whatever it sends, the API never answers 5xx.

schemathesis's pytest plugin does not load under this pytest, so its Hypothesis
strategies are driven directly: every operation, anonymous and with an admin token.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from sqlmodel import Session

from dashboard.accounts import tokens
from tests.factories import add_tick, make_instrument, make_topic, make_user

EXAMPLES_PER_OPERATION = 40


@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin-token"])
def test_no_request_the_schema_allows_gets_a_5xx(
    app: FastAPI, session: Session, as_admin: bool
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    make_user(session, "alice")
    make_topic(session, "markets")
    add_tick(session, make_instrument(session, "ACME"), 10.0)
    assert admin.id is not None
    token = tokens.issue(session=session, user_id=admin.id, name="fuzz")[1]
    headers = {"Authorization": f"Bearer {token}"} if as_admin else {}
    # The NDJSON stream never ends; its parameters are tested in the integration suite.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/stream")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the app's own schema must load
        operations.append(result.ok())
    assert len(operations) >= 8
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case[Any]) -> None:
                response = case.call(headers=headers)
                assert response.status_code < 500, f"{case.method} {case.formatted_path}"

            fuzz()
    finally:
        # schemathesis calls the app without its lifespan, so nothing else closes the
        # connections its requests opened.
        app.state.runtime.engine.dispose()
