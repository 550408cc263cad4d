"""The admin pages: compose (preview, send now or later), recent deliveries, who is
online, topics, users."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from dashboard.inbox import actions, compose, delivery, schedule, topics
from dashboard.models import Audience, Notification, Severity, User
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    MAX_ROW_ID,
    AdminDep,
    CsrfChecked,
    HtmxDep,
    RowId,
    RuntimeDep,
    SessionDep,
)
from dashboard.web.routes._html import render_page, see_other

router = APIRouter(include_in_schema=False)


def _admin_context(
    runtime: Runtime,
    session: Session,
    *,
    draft: compose.Draft,
    errors: dict[str, str],
    topic_errors: dict[str, str] | None = None,
) -> dict[str, object]:
    recent = delivery.recent(session=session, limit=20)
    all_topics = topics.all_topics(session=session, include_retired=True)
    scheduled = schedule.pending(session=session)
    user_ids = {d.notification.user_id for d in recent} | {s.user_id for s in scheduled}
    user_ids.discard(None)
    usernames = (
        {u.id: u.username for u in session.exec(select(User).where(col(User.id).in_(user_ids)))}
        if user_ids
        else {}
    )
    return {
        "draft": draft,
        # A fresh key per rendered form: submitting it twice (a double click) posts once.
        "idempotency_key": secrets.token_urlsafe(16),
        "errors": errors,
        "topic_errors": topic_errors or {},
        "severities": [s.value for s in Severity],
        "topics": all_topics,
        "topic_names": {t.id: t.name for t in all_topics},
        "recent": recent,
        "scheduled": scheduled,
        "usernames": usernames,
        **_online(runtime, session),
    }


def _online(runtime: Runtime, session: Session) -> dict[str, object]:
    online_ids = runtime.hub.online_user_ids()
    online = (
        session.exec(select(User.username).where(col(User.id).in_(online_ids))).all()
        if online_ids
        else []
    )
    return {"online": sorted(online), "open_streams": runtime.hub.connection_count}


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    sent: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    scheduled: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    context = _admin_context(runtime, session, draft=compose.Draft(), errors={})
    context["sent"] = session.get(Notification, sent) if sent else None
    context["just_scheduled"] = scheduled
    return render_page(request, "pages/admin.html", context, user=user)


@router.get("/admin/online", response_class=HTMLResponse)
def online_now(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: AdminDep
) -> HTMLResponse:
    """The "online now" card alone; the admin page refreshes it every few seconds."""
    return render_page(
        request,
        "pages/admin.html",
        _online(runtime, session),
        user=user,
        block_names=["online"],
    )


@router.post("/admin/notifications", dependencies=[CsrfChecked])
def post_notification(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    htmx: HtmxDep,
    title: Annotated[str, Form(max_length=10_000)] = "",
    body: Annotated[str, Form(max_length=100_000)] = "",
    severity: Annotated[str, Form(max_length=20)] = Severity.info.value,
    audience: Annotated[str, Form(max_length=20)] = Audience.everyone.value,
    topic: Annotated[str, Form(max_length=100)] = "",
    username: Annotated[str, Form(max_length=100)] = "",
    link: Annotated[str, Form(max_length=2000)] = "",
    send_at: Annotated[str, Form(max_length=40)] = "",
    intent: Annotated[Literal["send", "preview"], Form()] = "send",
    idempotency_key: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Send (now or at ``send_at``), or with ``intent=preview`` show it without sending."""
    draft = compose.Draft(
        title=title,
        body=body,
        severity=severity,
        audience=audience,
        topic=topic,
        username=username,
        link=link,
        send_at=send_at,
    )

    def compose_form(status_code: int, **extra: object) -> Response:
        errors = extra.pop("errors", {})
        assert isinstance(errors, dict)
        context = _admin_context(runtime, session, draft=draft, errors=errors)
        context.update(extra)
        return render_page(
            request,
            "pages/admin.html",
            context,
            user=user,
            status_code=status_code,
            block_names=["compose"] if htmx else None,
        )

    try:
        if intent == "preview":
            return compose_form(
                status.HTTP_200_OK, preview=compose.preview(session=session, draft=draft)
            )
        created = actions.post(
            session=session,
            live=runtime.live,
            draft=draft,
            created_by=user.id,
            idempotency_key=idempotency_key or None,
        )
    except compose.DraftInvalid as invalid:
        return compose_form(status.HTTP_422_UNPROCESSABLE_CONTENT, errors=invalid.errors)
    if isinstance(created, Notification):
        target = f"/admin?sent={created.id}"
    else:
        target = f"/admin?scheduled={created.id}"
    if not htmx:
        return see_other(target)
    context = _admin_context(runtime, session, draft=compose.Draft(), errors={})
    if isinstance(created, Notification):
        context["sent"] = created
    else:
        context["just_scheduled"] = created.id
    context["oob"] = True  # the recent and scheduled lists ride along as out-of-band swaps
    return render_page(
        request,
        "pages/admin.html",
        context,
        user=user,
        block_names=["compose", "recent", "scheduled_list"],
    )


@router.post("/admin/scheduled/{scheduled_id}/cancel", dependencies=[CsrfChecked])
def cancel_scheduled(scheduled_id: RowId, session: SessionDep, user: AdminDep) -> Response:
    if not schedule.cancel_scheduled(session=session, scheduled_id=scheduled_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "No such scheduled notification (it may have gone out)."
        )
    return see_other("/admin#scheduled")


def _topic_errors(
    request: Request,
    runtime: Runtime,
    session: Session,
    user: User,
    errors: dict[str, str],
    draft: dict[str, str] | None = None,
) -> Response:
    """The admin page again, 422, with the topic form's errors (and what was typed)."""
    context = _admin_context(
        runtime, session, draft=compose.Draft(), errors={}, topic_errors=errors
    )
    context["topic_draft"] = draft
    return render_page(
        request,
        "pages/admin.html",
        context,
        user=user,
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


@router.post("/admin/topics", dependencies=[CsrfChecked])
def create_topic(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    slug: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    try:
        topics.create(session=session, slug=slug, name=name, description=description)
    except topics.TopicInvalid as invalid:
        draft = {"slug": slug, "name": name, "description": description}
        return _topic_errors(request, runtime, session, user, invalid.errors, draft)
    return see_other("/admin#topics")


@router.post("/admin/topics/{slug}/rename", dependencies=[CsrfChecked])
def rename_topic(
    request: Request,
    slug: str,
    runtime: RuntimeDep,
    session: SessionDep,
    user: AdminDep,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        topic = topics.rename(session=session, slug=slug, name=name)
    except topics.TopicInvalid as invalid:
        errors = {f"rename-{slug}": invalid.errors.get("name", str(invalid))}
        return _topic_errors(request, runtime, session, user, errors)
    if topic is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No topic {slug!r}.")
    return see_other("/admin#topics")


@router.post("/admin/topics/{slug}/{action}", dependencies=[CsrfChecked])
def retire_topic(
    slug: str, action: Literal["retire", "restore"], session: SessionDep, user: AdminDep
) -> Response:
    """Retire: no new notifications or subscribers; the history stays. Restore undoes it."""
    if topics.set_retired(session=session, slug=slug, retired=action == "retire") is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No topic {slug!r}.")
    return see_other("/admin#topics")


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    users = session.exec(select(User).order_by(col(User.username))).all()
    return render_page(request, "pages/admin_users.html", {"users": users}, user=user)
