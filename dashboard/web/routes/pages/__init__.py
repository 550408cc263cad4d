"""The HTML pages a person uses, one router per area; every page renders complete
without JavaScript, and its forms are plain POSTs that htmx enhances."""

from __future__ import annotations

from dashboard.web.routes.pages import (
    admin,
    admin_instruments,
    alerts,
    dashboard,
    login,
    notifications,
    settings,
)

routers = tuple(
    area.router
    for area in (dashboard, login, settings, notifications, alerts, admin, admin_instruments)
)
