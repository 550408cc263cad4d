"""The JSON API under ``/api`` (OpenAPI at ``/docs``): one router per resource, each with
its own OpenAPI tag. ``GET /api/stream`` is in dashboard.web.routes.stream: a stream must
not hold the request-scoped store session that these routes' dependency opens."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from dashboard.web.deps import get_api_user
from dashboard.web.routes.api import instruments, notifications, prices, ticks, topics

# Every route resolves its caller, so a wrong token is a 401 even where none is needed.
# Writing ticks resolves its own (a token of scope "feed" is good for nothing else).
_callers_resolved = APIRouter(dependencies=[Depends(get_api_user)])
for resource in (instruments, prices, notifications, topics):
    _callers_resolved.include_router(resource.router)
router = APIRouter(prefix="/api")
router.include_router(_callers_resolved)
router.include_router(ticks.router)
