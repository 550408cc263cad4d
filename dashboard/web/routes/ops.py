"""For operators and load balancers: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from dashboard.runtime import Runtime
from dashboard.store import wal
from dashboard.web.metrics import exposition

router = APIRouter(tags=["operations"])

# A store that does not answer a trivial query within this long counts as unreachable.
STORE_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and serving requests."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: see the checks."}})
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the store answers, the pollers run and are not lagging.

    On SQLite it also names the WAL's size, with a warning past ``wal_warn_bytes``.
    """
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, runtime), STORE_TIMEOUT_SECONDS)
        checks["store"] = "ok"
    except Exception as error:  # any failure to answer is "not ready", with the reason
        checks["store"] = f"unreachable: {type(error).__name__}"
    checks["tasks"] = "ok" if runtime.tasks_running() else "a background task has stopped"
    for name, poller in runtime.pollers().items():
        lag = poller.lag()
        limit = poller.interval * 5 + 5
        if lag is None or lag > limit:
            checks[f"poller:{name}"] = (
                f"lagging ({'never polled' if lag is None else f'{lag:.1f} s'})"
            )
        else:
            checks[f"poller:{name}"] = f"ok ({lag:.2f} s)"
    ready = all(str(v).startswith("ok") for v in checks.values())
    # Named, not failing: the rows were skipped, and taking the node out would not fix them.
    poller = runtime.price_poller
    if poller.last_rejection is not None:
        skipped = sum(poller.rejected.values())
        checks["ticks"] = (
            f"skipped {skipped} rows breaking the store contract; last: {poller.last_rejection}"
        )
    # Named, not failing: a big WAL costs disk, and taking the node out would not shrink it.
    size = await asyncio.to_thread(wal.wal_bytes, runtime.engine)
    if size is not None:
        checks["wal"] = _wal_check(size, runtime.settings.wal_warn_bytes)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def _wal_check(size: int, warn_bytes: int) -> str:
    if size <= warn_bytes:
        return f"ok ({size / 1_048_576:.1f} MB)"
    return (
        f"warning: {size / 1_048_576:.1f} MB, past {warn_bytes / 1_048_576:.0f} MB "
        "(a reader holding a transaction keeps it from shrinking)"
    )


def _ping(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus exposition format (restrict it to your network at the proxy)."""
    return Response(exposition(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
