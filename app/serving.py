"""How the service is served, in one place for ``reten run`` and the benchmarks: the uvicorn options
(keep-alive, graceful shutdown), the API with the dispatcher beside it, and the service on a loopback port
in this process. The drain on SIGTERM is ``app.drain``."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app.asgi import create_app
from app.bootstrap import DEMO_EMAIL, DEMO_TENANT_SLUG, create_super_admin, prepare
from app.config import Settings, development_secrets, load_settings
from app.migrations import migrate

__all__ = ("free_port", "run_dispatcher", "run_service", "serve_locally", "uvicorn_options")


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


def run_service(host: str | None, port: int | None, workers: int | None) -> None:
    """``reten run``: migrate, create the demo super admin (outside production), then serve the API with
    ``workers`` uvicorn workers and the dispatcher beside it (its own process, as in production), until
    SIGTERM/SIGINT stops both."""
    started = time.perf_counter()
    settings, owner_dsn, _server = prepare(load_settings())
    applied = asyncio.run(migrate(owner_dsn))
    if applied:
        print(f"migrations applied: {', '.join(applied)}")
    demo_password = None
    if not settings.production:
        demo_password = development_secrets(Path(settings.data_dir))["demo_password"]
        asyncio.run(create_super_admin(settings, DEMO_EMAIL, demo_password, tenant_slug=DEMO_TENANT_SLUG))
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    print(f"Reten ready in {time.perf_counter() - started:.1f}s")
    print(f"  API:      {base}/api")
    print(f"  OpenAPI:  {base}/schema  (Swagger UI: {base}/schema/swagger)")
    if demo_password is not None:
        print(f"  Demo super admin: {DEMO_EMAIL} / {demo_password}  (tenant slug '{DEMO_TENANT_SLUG}')")
        print(
            f"  Try: curl -s -X POST {base}/api/auth/login -H 'content-type: application/json' "
            f'-d \'{{"identifier":"{DEMO_EMAIL}","password":"{demo_password}"}}\''
        )
    sys.stdout.flush()
    import uvicorn

    # uvicorn handles SIGTERM itself and, once stopped, raises the signal again: with the default handler
    # that killed this process on the spot, leaving the dispatcher and the embedded PostgreSQL running.
    # This handler (the one uvicorn restores) turns it into an exit that runs the cleanup below and atexit.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    dispatcher = subprocess.Popen([sys.executable, "-m", "app", "dispatcher"])
    try:
        uvicorn.run(
            "app.asgi:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers or settings.workers,
            log_level="warning",
            **uvicorn_options(settings),
        )
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.terminate()
        try:
            dispatcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dispatcher.kill()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def run_dispatcher() -> None:
    """``reten dispatcher``: push dispatch in the foreground until SIGTERM/SIGINT (calls in flight finish
    first)."""
    from app.dispatch.dispatcher import Dispatcher
    from app.logs import configure_logging

    settings, _, _server = prepare(load_settings())
    settings.validate()
    configure_logging(settings.log_level)

    async def main() -> None:
        dispatcher = Dispatcher(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, dispatcher.stop.set)
        await dispatcher.run()

    asyncio.run(main())
