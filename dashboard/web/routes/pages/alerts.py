"""Price alert forms: create (instrument page), re-arm and delete (settings)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response

from dashboard.prices import alerts
from dashboard.web.deps import CsrfChecked, HtmxDep, RowId, RuntimeDep, SessionDep, UserDep
from dashboard.web.routes._html import render_page, safe_next, see_other
from dashboard.web.routes.pages.dashboard import instrument_context

router = APIRouter(include_in_schema=False)


@router.post("/alerts", dependencies=[CsrfChecked])
def create_alert(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    symbol: Annotated[str, Form(max_length=20)] = "",
    direction: Annotated[str, Form(max_length=10)] = "above",
    level: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    assert user.id is not None
    draft = {"direction": direction, "level": level}
    try:
        alerts.create(
            session=session,
            user_id=user.id,
            symbol=symbol,
            direction=direction,
            level=level,
            limit=runtime.settings.max_alerts_per_user,
        )
    except alerts.AlertInvalid as invalid:
        if "symbol" in invalid.errors:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "No such instrument."
            ) from None
        context = instrument_context(
            runtime, session, symbol, user, errors=invalid.errors, draft=draft
        )
        return render_page(
            request,
            "pages/instrument.html",
            context,
            user=user,
            status_code=(
                status.HTTP_429_TOO_MANY_REQUESTS
                if isinstance(invalid, alerts.AlertLimitReached)
                else status.HTTP_422_UNPROCESSABLE_CONTENT
            ),
            block_names=["alerts"] if htmx else None,
        )
    if not htmx:
        return see_other(f"/instruments/{symbol}#alerts")
    context = instrument_context(runtime, session, symbol, user)
    return render_page(request, "pages/instrument.html", context, user=user, block_names=["alerts"])


@router.post("/alerts/{alert_id}/arm", dependencies=[CsrfChecked])
def rearm_alert(
    alert_id: RowId,
    session: SessionDep,
    user: UserDep,
    next: Annotated[str, Form(max_length=2000)] = "/settings",
) -> Response:
    assert user.id is not None
    if not alerts.rearm(session=session, user_id=user.id, alert_id=alert_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such alert.")
    return see_other(safe_next(next))


@router.post("/alerts/{alert_id}/delete", dependencies=[CsrfChecked])
def delete_alert(
    alert_id: RowId,
    session: SessionDep,
    user: UserDep,
    next: Annotated[str, Form(max_length=2000)] = "/settings",
) -> Response:
    assert user.id is not None
    if not alerts.delete(session=session, user_id=user.id, alert_id=alert_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such alert.")
    return see_other(safe_next(next))
