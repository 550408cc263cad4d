"""``/admin/instruments``: add, change and retire instruments from a page (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from dashboard.models import User
from dashboard.prices import instruments
from dashboard.web.deps import AdminDep, CsrfChecked, RuntimeDep, SessionDep
from dashboard.web.routes._html import render_page, see_other

router = APIRouter(include_in_schema=False)

_FIELDS = ("symbol", "name", "kind", "decimals", "ttl_seconds", "currency")


def _page(
    request: Request,
    session: Session,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    draft: dict[str, str] | None = None,
    editing: str | None = None,
) -> HTMLResponse:
    return render_page(
        request,
        "pages/admin_instruments.html",
        {
            "instruments": instruments.all_instruments(session=session, include_retired=True),
            "errors": errors or {},
            "draft": draft or {},
            "editing": editing,
        },
        user=user,
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


def _given(form: dict[str, str]) -> dict[str, str | None]:
    """Form fields as typed; an empty box is "not given"."""
    return {name: (value.strip() or None) for name, value in form.items()}


@router.get("/admin/instruments", response_class=HTMLResponse)
def instruments_page(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    return _page(request, session, user)


@router.post("/admin/instruments", dependencies=[CsrfChecked])
def add_instrument(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    symbol: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=100)] = "equity",
    decimals: Annotated[str, Form(max_length=10)] = "2",
    ttl_seconds: Annotated[str, Form(max_length=20)] = "3600",
    currency: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    draft = dict(zip(_FIELDS, (symbol, name, kind, decimals, ttl_seconds, currency), strict=True))
    try:
        new = instruments.parse_new(_given(draft))
        instruments.add(session=session, new=new)
    except instruments.InstrumentInvalid as invalid:
        return _page(request, session, user, errors=invalid.fields, draft=draft)
    runtime.price_poller.instruments_changed()
    return see_other("/admin/instruments")


@router.post("/admin/instruments/{symbol}/edit", dependencies=[CsrfChecked])
def change_instrument(
    request: Request,
    symbol: str,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=100)] = "",
    decimals: Annotated[str, Form(max_length=10)] = "",
    ttl_seconds: Annotated[str, Form(max_length=20)] = "",
    currency: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    draft = {
        "name": name,
        "kind": kind,
        "decimals": decimals,
        "ttl_seconds": ttl_seconds,
        "currency": currency,
    }
    try:
        changes = instruments.parse_changes(_given(draft))
        instruments.change(session=session, symbol=symbol, changes=changes)
    except instruments.InstrumentInvalid as invalid:
        return _page(request, session, user, errors=invalid.fields, draft=draft, editing=symbol)
    except instruments.InstrumentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No instrument {symbol!r}.") from None
    runtime.price_poller.instruments_changed()
    return see_other("/admin/instruments")


@router.post("/admin/instruments/{symbol}/{action}", dependencies=[CsrfChecked])
def retire_instrument(
    symbol: str,
    action: Literal["retire", "restore"],
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
) -> Response:
    """Retire: off the screens, no new ticks; the history stays. Restore undoes it."""
    try:
        instruments.retire(session=session, symbol=symbol, retired=action == "retire")
    except instruments.InstrumentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No instrument {symbol!r}.") from None
    runtime.price_poller.instruments_changed()
    return see_other("/admin/instruments")
