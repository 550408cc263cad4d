"""Helpers shared by the HTML routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from dashboard.accounts import auth
from dashboard.inbox import queries
from dashboard.links import is_site_path
from dashboard.models import User
from dashboard.runtime import Runtime


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: User | None,
    status_code: int = 200,
    block_names: list[str] | None = None,
) -> HTMLResponse:
    """Render a page, or some of its named blocks, with what every page needs.

    A signed-in user's page shows the unread badge and keeps it (and any inbox list on
    the page) live through one stream; a page may pass its own ``badge`` and ``stream_url``
    (from :func:`inbox_header`, say: an async caller must, as this reads the store).
    """
    runtime: Runtime = request.app.state.runtime
    if user is not None and user.id is not None and "badge" not in context:
        with runtime.open_session() as session:
            context = {**inbox_header(session, user.id), **context}
    context = {
        "user": user,
        "csrf_token": auth.csrf_token(request),
        # static/app.js reconnects a stream silent for two of these (seconds).
        "keepalive_interval": runtime.settings.keepalive_interval,
        **context,
    }
    response = runtime.templates.TemplateResponse(
        request, template, context, status_code=status_code, block_names=block_names or []
    )
    assert isinstance(response, HTMLResponse)
    return response


def render_fragment(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    """Render a part of a page for htmx to swap in (with the CSRF token its forms need)."""
    runtime: Runtime = request.app.state.runtime
    response = runtime.templates.TemplateResponse(
        request, template, {"csrf_token": auth.csrf_token(request), **context}
    )
    assert isinstance(response, HTMLResponse)
    return response


def inbox_header(session: Session, user_id: int) -> dict[str, Any]:
    """The header's unread badge and the stream that keeps it live (a query: off the loop)."""
    badge = queries.badge(session=session, user_id=user_id)
    return {"badge": badge, "stream_url": f"/events?view=inbox&after={badge.cursor}"}


def see_other(url: str) -> RedirectResponse:
    """The answer to a plain form POST that worked: go and GET the result."""
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """A path on this site only: never an open redirect to somewhere else."""
    return target if target and is_site_path(target) else "/"
