"""R6 (research/reliability-security.md §7; issue 17, item 3): on SIGTERM `reten run` drains before it
stops. /ready turns 503 at once while the process keeps serving for SHUTDOWN_DRAIN_S (a balancer's
health check takes it out of rotation; the requests it still sends are answered), then it stops
accepting, lets the request in flight finish, and exits 0 well within 25 s. With one uvicorn worker (in
the `reten run` process) and with two (the supervisor passes the signal to each)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.__main__ import DEMO_EMAIL
from app.config import PROJECT_ROOT, development_secrets
from app.loadtest.receiver import Receiver
from app.serving import free_port

DRAIN_S = 3.0
HOOK_S = 4.0  # the request in flight outlives the drain: it must still be answered


async def _status(http: httpx.AsyncClient, path: str, **kwargs: object) -> int:
    try:
        return (await http.get(path, **kwargs)).status_code  # type: ignore[arg-type]
    except httpx.TransportError:
        return 0


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_drains_then_finishes_what_is_in_flight(tmp_path: Path, workers: int) -> None:
    data_dir, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OWNER_DATABASE_URL"))}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(
        DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port), WORKERS=str(workers),
        SHUTDOWN_DRAIN_S=str(DRAIN_S), LOG_REQUESTS="false",
        DISPATCH_ALLOW_HTTP="true", DISPATCH_TEST_ALLOWLIST='["127.0.0.0/8"]',
    )  # fmt: skip
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "run", cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 120
            while await _status(http, "/health") != 200:
                assert run.returncode is None, f"reten run exited with {run.returncode}"
                assert time.monotonic() < deadline, "reten run did not serve in time"
                await asyncio.sleep(0.2)
            password = development_secrets(data_dir)["demo_password"]
            login = await http.post("/api/auth/login", json={"identifier": DEMO_EMAIL, "password": password})
            auth = {"authorization": f"Bearer {login.json()['accessToken']}"}
            [tenant] = (await http.get("/api/tenant", headers=auth)).json()
            auth["x-tenant-id"] = tenant["id"]
            async with Receiver(body=b'{"value": 1}', delay_s=HOOK_S) as hook:
                in_flight = await _slow_create(http, auth, hook.url)
                while not hook.requests:
                    assert in_flight.done() is False, "the create did not wait for its hook"
                    await asyncio.sleep(0.02)
                run.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                while await _status(http, "/ready") != 503:
                    assert time.monotonic() - signalled < 1.0, "/ready did not turn 503 at once"
                    await asyncio.sleep(0.05)
                # Still serving during the drain: a new request on a new connection is answered.
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:
                    assert await _status(fresh, "/api/activities", headers=auth) == 200
                    assert await _status(fresh, "/health") == 200
                assert time.monotonic() - signalled < DRAIN_S
                created = await in_flight
            assert created.status_code == 201, created.text
            returncode = await asyncio.wait_for(run.wait(), 25)
            stopped = time.monotonic() - signalled
        assert returncode == 0
        assert DRAIN_S <= stopped < 25, stopped
        print(f"drain {DRAIN_S:.0f} s, request in flight answered, exit after {stopped:.1f} s")
    finally:
        if run.returncode is None:
            os.killpg(run.pid, signal.SIGKILL)
            await run.wait()


async def _slow_create(http: httpx.AsyncClient, auth: dict[str, str], hook_url: str) -> asyncio.Task:
    """An activity create that waits HOOK_S on its CLIENT_HOOK: a request in flight during the drain."""
    keys = (await http.get("/api/activity-config/attribute-keys", headers=auth)).json()
    key_id = next(k["id"] for k in keys if k["key"] == "promotions")
    policy = {"attribute_key_id": key_id, "resolution_strategy": "UPFRONT", "resolver_type": "CLIENT_HOOK",
              "hook_url": hook_url}  # fmt: skip
    assert (await http.post("/api/activity-config/attribute-policies", headers=auth, json=policy)).is_success
    store = {
        "external_id": "drain-1", "name": "Store", "tax_id": "t-1",
        "addresses": [{"source_ref": "a1", "street": "Main", "street_number": "1", "is_primary": True}],
        "users": [{"external_id": "p0", "name": "P0 Person", "roles": ["OWNER"]}],
    }  # fmt: skip
    commerce = await http.post("/api/commerces", headers=auth, json=store)
    assert commerce.status_code == 201, commerce.text
    body = {"type": "MESSAGE", "reason": "Drain", "channel": "WHATSAPP", "idempotency_key": "drain-1",
            "commerce_id": commerce.json()["id"], "scheduled_at": "2031-01-16T09:00:00.000Z",
            "attribute_keys": ["promotions"]}  # fmt: skip
    return asyncio.create_task(http.post("/api/activities", headers=auth, json=body))
