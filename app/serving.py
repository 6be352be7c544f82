"""How the service is served: the uvicorn options (keep-alive, graceful shutdown) and the drain on
SIGTERM, in one place for ``reten run`` and the benchmarks.

Drain (goal R6, research/reliability-security.md §7): behind a load balancer, a process that stops
accepting the moment it gets SIGTERM drops the requests the balancer still sends it. So the first
SIGTERM (or SIGINT) only turns ``/ready`` to 503; the process keeps serving for ``SHUTDOWN_DRAIN_S``
while the balancer's health checks notice, then hands the signal to uvicorn, which stops accepting and
lets requests in flight finish (at most ``SHUTDOWN_GRACE_S``). A second signal skips the rest of the
drain. Installed by a lifespan in each worker, over the handler uvicorn set, and only in the main
thread (the in-process test client runs the app elsewhere and never drains)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from litestar import Litestar

from app.config import Settings

__all__ = ("drain_lifespan", "free_port", "serve_locally", "uvicorn_options")

log = logging.getLogger("reten.serving")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Server options every way of serving the app shares."""
    return {
        # Longer than the idle time of common client pools and balancers (aiohttp 15 s, AWS ALB 60 s):
        # the server must not close a connection a client is about to reuse.
        "timeout_keep_alive": settings.http_keep_alive_s,
        "timeout_graceful_shutdown": settings.shutdown_grace_s,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }


@asynccontextmanager
async def drain_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.draining = False
    if settings.shutdown_drain_s <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(sig: int, frame: FrameType | None) -> None:
        handler = previous[signal.Signals(sig)]
        if app.state.draining or not callable(handler):  # a second signal: stop now
            _pass_on(handler, sig, frame)
            return
        app.state.draining = True
        log.warning("draining", extra={"drain_s": settings.shutdown_drain_s})
        loop.call_soon_threadsafe(loop.call_later, settings.shutdown_drain_s, _pass_on, handler, sig, None)

    for sig in SIGNALS:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is handle:
                signal.signal(sig, handler)


def _pass_on(handler: Any, sig: int, frame: FrameType | None) -> None:
    """What the signal would have done without the drain (uvicorn's handler: stop accepting, finish)."""
    if callable(handler):
        handler(sig, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve_locally(settings: Settings) -> AsyncIterator[str]:
    """The service on a free loopback port, in this event loop, served as ``reten run`` serves it (the
    benchmarks and the tests that need a real server); yields its base URL."""
    import uvicorn

    from app.asgi import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            try:
                task.result()
            except SystemExit as exc:  # uvicorn's way to say the app did not start: not ours to exit
                raise RuntimeError("the service did not start (its lifespan failed)") from exc
            raise RuntimeError("the service stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
