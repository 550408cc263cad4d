"""The admin pages: post a notification (to everyone, a topic or one user), see users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from dashboard import notices, topics
from dashboard.deps import MAX_ROW_ID, AdminDep, CsrfChecked, HtmxDep, ServicesDep, SessionDep
from dashboard.models import Audience, Notification, Severity, Topic, User
from dashboard.routes._html import render_page, see_other
from dashboard.services import Services

router = APIRouter(include_in_schema=False)


def _admin_context(
    services: Services, session: Session, *, draft: notices.Draft, errors: dict[str, str]
) -> dict[str, object]:
    recent = notices.recent(session=session, limit=20)
    topic_names = {t.id: t.name for t in session.exec(select(Topic)).all()}
    recipient_ids = {n.user_id for n in recent if n.user_id is not None}
    recipients = (
        {
            u.id: u.username
            for u in session.exec(select(User).where(col(User.id).in_(recipient_ids)))
        }
        if recipient_ids
        else {}
    )
    online_ids = services.hub.online_user_ids()
    online = (
        session.exec(select(User.username).where(col(User.id).in_(online_ids))).all()
        if online_ids
        else []
    )
    return {
        "draft": draft,
        "errors": errors,
        "severities": [s.value for s in Severity],
        "topics": topics.all_topics(session=session),
        "recent": recent,
        "topic_names": topic_names,
        "recipients": recipients,
        "online": sorted(online),
        "open_streams": services.hub.connection_count,
    }


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    user: AdminDep,
    sent: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    context = _admin_context(services, session, draft=notices.Draft(), errors={})
    context["sent"] = session.get(Notification, sent) if sent else None
    return render_page(request, "pages/admin.html", context, user=user)


@router.post("/admin/notifications", dependencies=[CsrfChecked])
def post_notification(
    request: Request,
    services: ServicesDep,
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
) -> Response:
    draft = notices.Draft(
        title=title,
        body=body,
        severity=severity,
        audience=audience,
        topic=topic,
        username=username,
        link=link,
    )
    try:
        notification = notices.create_notification(session=session, draft=draft, created_by=user.id)
    except notices.DraftInvalid as invalid:
        context = _admin_context(services, session, draft=draft, errors=invalid.errors)
        return render_page(
            request,
            "pages/admin.html",
            context,
            user=user,
            status_code=422,
            block_names=["compose"] if htmx else None,
        )
    services.notification_poller.wake()
    if not htmx:
        return see_other(f"/admin?sent={notification.id}")
    context = _admin_context(services, session, draft=notices.Draft(), errors={})
    context["sent"] = notification
    context["oob"] = True  # the recent list rides along as an out-of-band swap
    return render_page(
        request, "pages/admin.html", context, user=user, block_names=["compose", "recent"]
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    users = session.exec(select(User).order_by(col(User.username))).all()
    return render_page(request, "pages/admin_users.html", {"users": users}, user=user)
