"""R6 (research/reliability-security.md §7; issue 17, item 3): on SIGTERM `reten run` drains before it
stops. /ready turns 503 at once while the process keeps serving for SHUTDOWN_DRAIN_S (a balancer's
health check takes it out of rotation; the requests it still sends are answered), then it stops
accepting, lets the request in flight finish, and exits 0 well within 25 s. With one uvicorn worker (in
the `reten run` process) and with two (the supervisor passes the signal to each)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from app.loadtest.receiver import Receiver
from reliability.service import running_service, status_of

DRAIN_S = 3.0
HOOK_S = 4.0  # the request in flight outlives the drain: it must still be answered


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_drains_then_finishes_what_is_in_flight(tmp_path: Path, workers: int) -> None:
    async with running_service(tmp_path, workers, SHUTDOWN_DRAIN_S=str(DRAIN_S)) as service:
        run, http, auth = service.process, service.http, service.auth
        async with Receiver(body=b'{"value": 1}', delay_s=HOOK_S) as hook:
            in_flight = await _slow_create(http, auth, hook.url)
            while not hook.requests:
                assert in_flight.done() is False, "the create did not wait for its hook"
                await asyncio.sleep(0.02)
            run.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            while await status_of(http, "/ready") != 503:
                assert time.monotonic() - signalled < 1.0, "/ready did not turn 503 at once"
                await asyncio.sleep(0.05)
            # Still serving during the drain: a new request on a new connection is answered.
            async with httpx.AsyncClient(base_url=service.base_url) as fresh:
                assert await status_of(fresh, "/api/activities", headers=auth) == 200
                assert await status_of(fresh, "/health") == 200
            assert time.monotonic() - signalled < DRAIN_S
            created = await in_flight
        assert created.status_code == 201, created.text
        returncode = await asyncio.wait_for(run.wait(), 25)
        stopped = time.monotonic() - signalled
    assert returncode == 0
    assert DRAIN_S <= stopped < 25, stopped
    print(f"drain {DRAIN_S:.0f} s, request in flight answered, exit after {stopped:.1f} s")


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
