"""The JSON API under ``/api`` (OpenAPI at ``/docs``): one router per resource, each with
its own OpenAPI tag. ``GET /api/stream`` is in dashboard.web.routes.stream: a stream must
not hold the request-scoped store session that these routes' dependency opens."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from dashboard.web.deps import get_api_user
from dashboard.web.routes.api import instruments, notifications, prices, ticks, topics

# Every route resolves its caller, so a wrong token is a 401 even where none is needed.
router = APIRouter(prefix="/api", dependencies=[Depends(get_api_user)])
for resource in (instruments, prices, ticks, notifications, topics):
    router.include_router(resource.router)
