"""``create_app(settings)``: the FastAPI app, its middleware, routes and lifespan."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, APIWebSocketRoute
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Route, WebSocketRoute

from dashboard.accounts import auth
from dashboard.models import User
from dashboard.resources import resource_dir
from dashboard.runtime import Runtime, build_runtime
from dashboard.settings import Settings
from dashboard.web import assets
from dashboard.web.deps import LoginRequired
from dashboard.web.metrics import registry_for
from dashboard.web.middleware import BodySizeLimit, RequestContext
from dashboard.web.process_tuning import tune_for_many_connections
from dashboard.web.routes import api, events, ops, pages, stream, ws, ws_ingest
from dashboard.web.routes._html import inbox_header, render_page

logger = logging.getLogger(__name__)

SESSION_COOKIE = "dashboard_session"
_LEAF_ROUTES = (APIRoute, APIWebSocketRoute, Route, WebSocketRoute)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan starts the pollers, the keep-alive and the feed."""
    settings = settings or Settings()
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # /docs is served below from vendored files under the CSP; FastAPI's own pages load
    # Swagger UI and ReDoc from a CDN (blank without internet) with inline scripts.
    app = FastAPI(
        title="Live dashboard",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie=SESSION_COOKIE,
        # The cookie lasts as long as a login can; the store decides whether it still does.
        max_age=round(settings.session_absolute_hours * 3600),
        same_site="lax",
        https_only=settings.https_only_cookies,
    )
    # Outermost last: every answer (a 413 included) gets a request id and security headers.
    app.add_middleware(
        BodySizeLimit,
        limit_for=lambda path: (
            settings.max_ingest_bytes if path == "/api/ticks" else settings.max_body_bytes
        ),
    )
    app.add_middleware(RequestContext, hsts=settings.https_only_cookies)
    app.state.metrics = registry_for(runtime)
    app.mount(assets.MOUNT, assets.static_app(resource_dir("static")), name="static")

    # Swagger UI's files as the fastapi-swagger package ships them (its current 5.x, which
    # reads OpenAPI 3.1); the page that starts it is ours, with no inline script.
    swagger_files = Path(str(importlib.resources.files("fastapi_swagger") / "resources"))
    app.mount("/docs/assets", assets.static_app(swagger_files), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        """The interactive API description (Swagger UI, from the fastapi-swagger package)."""
        return runtime.templates.TemplateResponse(request, "pages/api_docs.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """The icon for clients that ask for it by its old name (pages link the SVG)."""
        return FileResponse(
            resource_dir("static") / "favicon.svg",
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    # Routes are matched in order: the pages' stream first, as every page's reconnect asks
    # for it (behind the pages' few dozen routes, matching was 7 % of a reconnect storm),
    # then what programs call often, the pages last.
    _add_routes(
        app,
        events.router,
        *api.routers,
        stream.router,
        ws.router,
        ws_ingest.router,
        ops.router,
        *pages.routers,
    )
    app.add_exception_handler(LoginRequired, _redirect_to_login)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _store_refused_data)
    return app


def _add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add each router's routes to the app's own list, instead of ``include_router``.

    Since FastAPI 0.137, an included router stays a node of its own that every request
    searches twice (to match, then to handle), and this app's routers were nested: that
    was up to 0.2 ms of CPU per request (a 404: 460-560 µs before, 280-360 after). The routers
    here carry their own prefix, tags and dependencies, so their routes are whole as
    they are; a router that includes another would lose that one's routes, and one with
    start-up or shut-down hooks would lose those, hence the checks. Not carried over
    either: ``app.dependency_overrides`` (these routes keep their router's provider; the
    app sets none). ``url_path_for`` of a name that a page and an API route share finds
    the API's, which come first (nothing looks a route up by name).
    """
    for router in routers:
        for route in router.routes:
            if not isinstance(route, _LEAF_ROUTES):
                raise TypeError(f"{route!r} is not a route: include its routes instead")
        if router.on_startup or router.on_shutdown:
            raise TypeError(f"{router!r} has start-up or shut-down hooks: run them in the lifespan")
        app.router.routes.extend(router.routes)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get(
        "accept", ""
    )


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _htmx_error(status_code: int, detail: str, *, signed_out: bool) -> Response:
    """An error answer htmx swaps nowhere (htmx 4 swaps error answers into the target by
    default: a whole error page inside a list). app.js says what failed instead: the
    signed-out state when the login has ended, else a short message from ``X-Error``."""
    headers = {"HX-Reswap": "none", "X-Error": quote(detail)}
    if signed_out:
        headers["X-Signed-Out"] = "true"
    return Response(detail, status_code=status_code, headers=headers, media_type="text/plain")


async def _redirect_to_login(request: Request, _exc: Exception) -> Response:
    if _is_htmx(request):
        # A redirect would be followed and the login page swapped into the target.
        return _htmx_error(401, "You are signed out; sign in again.", signed_out=True)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def _error(
    request: Request,
    status_code: int,
    detail: Any,
    *,
    page_detail: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error page for a browser, ``{"detail": …}`` JSON for everyone else."""
    if _is_htmx(request) and not request.url.path.startswith("/api"):
        signed_in = await asyncio.to_thread(_signed_in, request)
        message = page_detail or (detail if isinstance(detail, str) else "The request failed.")
        return _htmx_error(status_code, message, signed_out=not signed_in)
    if _wants_html(request):
        # The header still shows who is signed in (and their badge) on an error page; both
        # are read in a worker thread, so render_page has no query left to run on the loop.
        user, header = await asyncio.to_thread(_signed_in_header, request)
        return render_page(
            request,
            "pages/error.html",
            {**header, "status": status_code, "detail": page_detail or detail},
            user=user,
            status_code=status_code,
        )
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _signed_in(request: Request) -> bool:
    """The request's cookie names a live login (one short store session)."""
    if auth.cookie_secret(request) is None:
        return False
    runtime: Runtime = request.app.state.runtime
    with runtime.open_session() as session:
        return auth.signed_in(request, session=session, lifetimes=runtime.lifetimes) is not None


def _signed_in_header(request: Request) -> tuple[User | None, dict[str, Any]]:
    """Who is signed in, and their header's badge context (empty for nobody)."""
    if auth.cookie_secret(request) is None:
        return None, {}
    runtime: Runtime = request.app.state.runtime
    with runtime.open_session() as session:
        found = auth.signed_in(request, session=session, lifetimes=runtime.lifetimes)
        if found is None:
            return None, {}
        user = found[1]
        assert user.id is not None
        return user, inbox_header(session, user.id)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return await _error(request, exc.status_code, exc.detail, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return await _error(request, 422, errors, page_detail=summary)


async def _store_refused_data(request: Request, exc: Exception) -> Response:
    # The store refused a value the validators let through (PostgreSQL rejects NUL bytes
    # in text, for one): the input is bad, nothing was written, and it is not a 500.
    logger.info("store refused input on %s: %s", request.url.path, exc)
    return await _error(
        request, 422, "The input contains characters that cannot be stored (such as NUL)."
    )


def create_app_from_env() -> FastAPI:
    """The factory ``dashboard serve`` hands to uvicorn (settings from the environment)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(Settings())
    tune_for_many_connections()
    return app
