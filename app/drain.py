"""The drain on SIGTERM, installed by a lifespan in each worker.

Drain (goal R6, research/reliability-security.md §7): behind a load balancer, a process that stops
accepting the moment it gets SIGTERM drops the requests the balancer still sends it. So the first
SIGTERM (or SIGINT) only turns ``/ready`` to 503; the process keeps serving for ``SHUTDOWN_DRAIN_S``
while the balancer's health checks notice, then hands the signal to uvicorn, which stops accepting and
lets requests in flight finish (at most ``SHUTDOWN_GRACE_S``). A second signal skips the rest of the
drain. Installed over the handler uvicorn set, and only in the main thread (the in-process test client
runs the app elsewhere and never drains)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from litestar import Litestar

from app.config import Settings

__all__ = ("drain_lifespan",)

log = logging.getLogger("reten.serving")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
