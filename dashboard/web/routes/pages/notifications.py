"""Notification history, one notification, and marking read or archiving (no JS needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from dashboard.accounts import auth
from dashboard.inbox import actions, queries, topics
from dashboard.links import is_allowed_link
from dashboard.models import Severity, Topic, User
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    MAX_ROW_ID,
    CsrfChecked,
    HtmxDep,
    RowId,
    RuntimeDep,
    SessionDep,
    UserDep,
)
from dashboard.web.routes._html import render_fragment, render_page, safe_next, see_other

router = APIRouter(include_in_schema=False)

HISTORY_PAGE = 50
# At most this many items live in the dashboard's inbox list: static/inbox.js trims the
# oldest as new ones arrive (a day's 1,000 notifications made 62,000 DOM nodes and tasks
# of 224 ms); "Show older" brings them back a page at a time.
INBOX_KEEP = 100
# The inbox panel's pages: what "Show older" adds, and what a catch-up shows from the top.
INBOX_PAGE = 50
# What one "select several" may hold: the panel keeps about 100 items, "Show older" adds
# pages of 50; a form listing more is not a person's selection.
MOST_SELECTED = 500


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    unread: bool = False,
    severity: Annotated[str, Query(max_length=20)] = "",
    topic: Annotated[str, Query(max_length=40)] = "",
    archived: bool = False,
) -> HTMLResponse:
    """History, newest first, filtered and paged by id (``before``); works without JS.

    The filter form sends empty fields for "any", so empty means no filter.
    """
    assert user.id is not None
    all_topics = topics.all_topics(session=session, include_retired=True)
    chosen_severity, topic_id = _filter_values(severity, topic, all_topics)
    filters = queries.Filters(
        unread_only=unread, severity=chosen_severity, topic_id=topic_id, archived=archived
    )
    badge = queries.badge(session=session, user_id=user.id)
    items = queries.inbox(
        session=session,
        user_id=user.id,
        before=min(before, badge.cursor + 1) if before else badge.cursor + 1,
        limit=HISTORY_PAGE + 1,
        filters=filters,
    )
    more = len(items) > HISTORY_PAGE
    items = items[:HISTORY_PAGE]
    query = {
        k: v
        for k, v in {
            "unread": "1" if unread else "",
            "severity": severity,
            "topic": topic,
            "archived": "1" if archived else "",
        }.items()
        if v
    }
    return render_page(
        request,
        "pages/notifications.html",
        {
            "items": items,
            "filters": filters,
            "topic": topic,
            "topics": all_topics,
            "severities": [s.value for s in Severity],
            # New arrivals are prepended live only to the unfiltered first page.
            "live_list": before is None and filters == queries.Filters(),
            "older_url": (
                "/notifications?" + urlencode({**query, "before": items[-1].notification.id})
                if more
                else None
            ),
            "newest_url": "/notifications?" + urlencode(query) if before else None,
            "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
            "badge": badge,
            "stream_url": f"/events?view=inbox&after={badge.cursor}",
        },
        user=user,
    )


@router.get("/inbox/items", response_class=HTMLResponse)
def inbox_items(
    request: Request,
    session: SessionDep,
    user: UserDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    """A page of the inbox panel: the ``<li>`` items of ``#inbox``, newest first.

    Without ``before``, the newest :data:`INBOX_PAGE` (a page catching up after a
    reconnect, or showing the "N new" held back while its reader scrolled); with it, the
    :data:`INBOX_PAGE` older than that id ("Show older"). A last ``<li class=inbox-older>``
    asks for the page after, when there is one.
    """
    assert user.id is not None
    items = queries.inbox(session=session, user_id=user.id, before=before, limit=INBOX_PAGE + 1)
    return render_fragment(
        request,
        "partials/inbox_items.html",
        {
            "items": items[:INBOX_PAGE],
            "older_than": items[INBOX_PAGE - 1].notification.id
            if len(items) > INBOX_PAGE
            else None,
            "top": before is None,
        },
    )


@router.post("/notifications/selected", dependencies=[CsrfChecked])
def mark_selected(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    action: Annotated[Literal["read", "archive"], Form()],
    notification_ids: Annotated[list[int], Form(alias="id")] = [],  # noqa: B006
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Mark the selected notifications read, or archive them, at once (all or none).

    Raises 422 when nothing is selected, an id is not a notification id, or more than
    :data:`MOST_SELECTED` are. Ids that are not the user's are ignored, as missing ones are.
    """
    assert user.id is not None
    if not notification_ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Select a notification first.")
    if len(notification_ids) > MOST_SELECTED:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Select at most {MOST_SELECTED} notifications at once.",
        )
    if any(not 1 <= i <= MAX_ROW_ID for i in notification_ids):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Not a notification id.")
    archive = action == "archive"
    changed = actions.mark_selected(
        session=session,
        live=runtime.live,
        user_id=user.id,
        notification_ids=set(notification_ids),
        archive=archive,
    )
    if not htmx:
        return see_other(safe_next(next))
    # Out-of-band swaps: the page may show the items in its inbox or its history list.
    badge = queries.badge(session=session, user_id=user.id)
    if archive:
        swaps = [f'<li hx-swap-oob="delete:#notification-{i}"></li>' for i in changed]
    else:
        csrf = auth.csrf_token(request)
        swaps = [
            runtime.renderer.notification_item(
                item.notification, read=True, csrf_token=csrf, oob=True
            )
            for item in queries.by_ids(session=session, user_id=user.id, ids=changed)
        ]
    return HTMLResponse("".join(swaps) + runtime.renderer.unread_badge(badge, oob=True))


@router.get("/notifications/{notification_id}", response_class=HTMLResponse)
def notification_page(
    request: Request, notification_id: RowId, session: SessionDep, user: UserDep
) -> HTMLResponse:
    """One notification in full. Showing it changes nothing (a link elsewhere or a
    prefetcher may ask for it): the page marks it read by a POST once a person sees it."""
    assert user.id is not None
    item = queries.find(session=session, user_id=user.id, notification_id=notification_id)
    if item is None:
        # Someone else's notification looks exactly like a missing one.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    return render_page(request, "pages/notification.html", {"item": item}, user=user)


@router.get("/notifications/{notification_id}/open")
def open_notification_page(notification_id: RowId) -> Response:
    """Where "Open link" used to be a plain link: the notification's page (nothing changes
    on a GET; the link is followed by the POST below)."""
    return see_other(f"/notifications/{notification_id}")


@router.post("/notifications/{notification_id}/open", dependencies=[CsrfChecked])
def open_notification_link(
    notification_id: RowId, runtime: RuntimeDep, session: SessionDep, user: UserDep
) -> Response:
    """Follow a notification's link, marking it read on the way."""
    assert user.id is not None
    item = queries.find(session=session, user_id=user.id, notification_id=notification_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    link = item.notification.link
    if not link:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This notification has no link.")
    if not is_allowed_link(link):
        # Written before the rule was as strict as it is now: checked where it is followed too.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This notification's link is not allowed.")
    actions.open_notification(
        session=session, live=runtime.live, user_id=user.id, notification_id=notification_id
    )
    return see_other(link)


@router.post("/notifications/{notification_id}/read", dependencies=[CsrfChecked])
def mark_read(
    request: Request,
    notification_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Mark one notification read."""
    return _set_read(request, notification_id, True, runtime, session, user, htmx, next)


@router.post("/notifications/{notification_id}/unread", dependencies=[CsrfChecked])
def mark_unread(
    request: Request,
    notification_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Mark one notification unread again (a person wants to come back to it)."""
    return _set_read(request, notification_id, False, runtime, session, user, htmx, next)


def _set_read(
    request: Request,
    notification_id: int,
    read: bool,
    runtime: Runtime,
    session: Session,
    user: User,
    htmx: bool,
    next: str,
) -> Response:
    assert user.id is not None
    mark = actions.mark_read if read else actions.mark_unread
    notification = mark(
        session=session, live=runtime.live, user_id=user.id, notification_id=notification_id
    )
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    if not htmx:
        return see_other(safe_next(next))
    # The badge rides along, stamped with its version: the page keeps whichever is newer,
    # this answer or the stream's message about the same click.
    badge = queries.badge(session=session, user_id=user.id)
    item = runtime.renderer.notification_item(
        notification, read=read, csrf_token=auth.csrf_token(request)
    )
    return HTMLResponse(item + runtime.renderer.unread_badge(badge, oob=True))


@router.post("/notifications/{notification_id}/{action}", dependencies=[CsrfChecked])
def archive(
    notification_id: RowId,
    action: Literal["archive", "unarchive"],
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    next: Annotated[str, Form(max_length=2000)] = "/notifications",
) -> Response:
    """Archive (out of the inbox, and read) or move back to the inbox."""
    assert user.id is not None
    move = actions.archive if action == "archive" else actions.unarchive
    notification = move(
        session=session, live=runtime.live, user_id=user.id, notification_id=notification_id
    )
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    if not htmx:
        return see_other(safe_next(next))
    return Response(status_code=status.HTTP_200_OK)  # the form's hx-swap="delete" removes it


@router.post("/notifications/read-all", dependencies=[CsrfChecked])
def mark_all_read(
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
    up_to: Annotated[int | None, Form(ge=0, le=MAX_ROW_ID)] = None,
    severity: Annotated[str, Form(max_length=20)] = "",
    topic: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Mark read what the page shows: up to its newest item (``up_to``), within its filter.

    A notification that arrived after the page last updated, or that its filter hides,
    stays unread: the person never saw it.
    """
    assert user.id is not None
    all_topics = topics.all_topics(session=session, include_retired=True)
    chosen_severity, topic_id = _filter_values(severity, topic, all_topics)
    actions.mark_all_read(
        session=session,
        live=runtime.live,
        user_id=user.id,
        up_to=up_to,
        severity=chosen_severity,
        topic_id=topic_id,
    )
    return see_other(safe_next(next))


def _filter_values(
    severity: str, topic: str, all_topics: Sequence[Topic]
) -> tuple[Severity | None, int | None]:
    """The history filter's severity and topic id ("" is any), or a 422 naming the field."""
    if severity and severity not in Severity.__members__:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Choose a severity: {', '.join(Severity.__members__)}.",
        )
    topic_id = None
    if topic:
        topic_id = next((t.id for t in all_topics if t.slug == topic), None)
        if topic_id is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"No topic {topic!r}.")
    return (Severity(severity) if severity else None), topic_id
