"""The JSON API under ``/api`` (OpenAPI at ``/docs``): one router per resource, each with
its own OpenAPI tag. ``GET /api/stream`` is in dashboard.web.routes.stream: a stream must
not hold the request-scoped store session that these routes' dependency opens.

Each router carries its own ``/api`` prefix and caller dependency (deps.CALLER_RESOLVED),
so that the app can add their routes as they are (see dashboard.web.app).
"""

from __future__ import annotations

from dashboard.web.routes.api import instruments, notifications, prices, ticks, topics

# Routes are matched in this order: the ticks a feed posts, many a second, first (behind
# the other routers' routes, matching cost a single-tick POST 60 µs of its CPU).
routers = (ticks.router, instruments.router, prices.router, notifications.router, topics.router)
