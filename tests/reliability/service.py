"""`reten run` in a subprocess on its own embedded PostgreSQL, for the reliability tests that need the
real server (signals, several workers): started, its demo super admin logged in, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.bootstrap import DEMO_EMAIL
from app.config import PROJECT_ROOT, development_secrets
from app.serving import free_port

STOP_WITHIN_S = 30.0


@dataclass
class Service:
    process: asyncio.subprocess.Process
    base_url: str
    http: httpx.AsyncClient
    auth: dict[str, str]  # the demo super admin, acting in the demo tenant


async def status_of(http: httpx.AsyncClient, path: str, **kwargs: object) -> int:
    """The status of a GET, 0 when the connection fails."""
    try:
        return (await http.get(path, **kwargs)).status_code  # type: ignore[arg-type]
    except httpx.TransportError:
        return 0


@asynccontextmanager
async def running_service(tmp_path: Path, workers: int, **env: str) -> AsyncIterator[Service]:
    data_dir, port = tmp_path / "data", free_port()
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OWNER_DATABASE_URL"))
    }
    environ.pop("XDG_RUNTIME_DIR", None)
    environ.update(
        DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port), WORKERS=str(workers), LOG_REQUESTS="false",
        DISPATCH_ALLOW_HTTP="true", DISPATCH_TEST_ALLOWLIST='["127.0.0.0/8"]', SHUTDOWN_DRAIN_S="0",
    )  # fmt: skip
    environ.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "run", cwd=PROJECT_ROOT, env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            deadline = time.monotonic() + 120
            while await status_of(http, "/health") != 200:
                assert process.returncode is None, f"reten run exited with {process.returncode}"
                assert time.monotonic() < deadline, "reten run did not serve in time"
                await asyncio.sleep(0.2)
            password = development_secrets(data_dir)["demo_password"]
            login = await http.post("/api/auth/login", json={"identifier": DEMO_EMAIL, "password": password})
            auth = {"authorization": f"Bearer {login.json()['accessToken']}"}
            [tenant] = (await http.get("/api/tenant", headers=auth)).json()
            auth["x-tenant-id"] = tenant["id"]
            yield Service(process, base_url, http, auth)
    finally:
        # SIGTERM, as an operator would: `reten run` then stops its dispatcher and its embedded PostgreSQL
        # (SIGKILL would leave the database running). SIGKILL only if it does not end in time.
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_WITHIN_S)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
