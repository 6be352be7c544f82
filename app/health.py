"""Liveness (no I/O) and readiness (the database answers within a second)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from app.db import ping
from app.policy import RoutePolicy

__all__ = ("health", "ready")

_NO_LOG = RoutePolicy(auth="public", log_requests=False).opt()


@get("/health", opt=_NO_LOG, tags=["Operations"], operation_id="Health", sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up (no database access)."""
    return {"status": "ok"}


@get(
    "/ready",
    opt=_NO_LOG,
    tags=["Operations"],
    operation_id="Ready",
    responses={
        503: ResponseSpec(
            data_container=dict[str, str],
            description='The database does not answer (`{"status": "unavailable"}`), or the process is '
            'draining before a shutdown (`{"status": "draining"}`); with Retry-After',
            generate_examples=False,
        )
    },
)
async def ready(state: State) -> Response[dict[str, str]]:
    """The database is reachable and the process is not draining for a shutdown: 200, else 503 with
    Retry-After."""
    if state.get("draining"):
        return Response({"status": "draining"}, status_code=503, headers={"Retry-After": "1"})
    try:
        async with state.pool.acquire(timeout=1) as conn:
            await ping(conn)
    except Exception:
        return Response({"status": "unavailable"}, status_code=503, headers={"Retry-After": "1"})
    return Response({"status": "ready"})
