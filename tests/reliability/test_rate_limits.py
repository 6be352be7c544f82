"""R7 (research/reliability-security.md §7; issue 17, item 1): a key's rate limit holds across the
workers of `reten run` (2 here), whose buckets are shared through PostgreSQL: key K, bursting at about
twice its limit over many connections (spread over both workers), gets no more than its budget (burst +
rate x time) + 10 %, and no less than 90 % of what one token bucket of its own would have admitted of the
same requests; its excess is 429 with Retry-After; key L of another tenant, at a modest rate meanwhile,
gets no 429; no 5xx. Before, each worker had its own buckets and K got twice its budget.

The connections are opened (a GET /health each) before the clock starts, so the window measures the
limiter and not connection setup, and it ends with the last answer: every request K's bucket saw arrived
within it, so burst + rate x window bounds what K may be admitted. The floor is the single bucket's count
(``_one_bucket``, fed K's requests at the times they were answered): when this shared machine stalls the
test's client or the service, K sends nothing for a while and a bucket full at its burst refills no
further, which the budget does not know."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import httpx

from reliability.service import running_service

RATE, BURST, SECONDS, CONNECTIONS = 20.0, 20, 4.0, 12
FLOOR = 0.9  # of what one bucket would have admitted (``_one_bucket``), admitted at least
URL = "/api/activities?per_page=1"


async def _key(http: httpx.AsyncClient, auth: dict[str, str]) -> str:
    body = {"name": "r7", "permissions": ["VIEW_ACTIVITIES"]}
    response = await http.post("/api/api-keys", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["plaintextKey"])


async def _hammer(
    http: httpx.AsyncClient, key: str, until: float, pause_s: float, out: list[tuple[float, httpx.Response]]
) -> None:
    """One connection sending requests with ``key`` until ``until``: (when answered, response) each."""
    while time.monotonic() < until:
        response = await http.get(URL, headers={"x-api-key": key})
        out.append((time.monotonic(), response))
        await asyncio.sleep(pause_s)


def _one_bucket(times: list[float]) -> int:
    """How many of requests arriving at ``times`` one token bucket (RATE, BURST) admits."""
    tokens, last, admitted = float(BURST), min(times, default=0.0), 0
    for at in sorted(times):
        tokens, last = min(float(BURST), tokens + (at - last) * RATE), at
        if tokens >= 1:
            tokens, admitted = tokens - 1, admitted + 1
    return admitted


async def test_a_keys_limit_holds_across_two_workers(tmp_path: Path) -> None:
    limits = {"API_KEY_RATE_PER_S": str(RATE), "API_KEY_BURST": str(BURST)}
    async with running_service(tmp_path, 2, **limits) as service:
        http, auth = service.http, service.auth
        k = await _key(http, auth)
        other = {"name": "Other", "slug": "other", "adminEmail": "admin@other.test",
                 "adminPassword": "Other-passw0rd!", "adminFirstName": "A", "adminLastName": "O"}  # fmt: skip
        tenant = await http.post("/api/tenant/setup", headers=auth, json=other)
        assert tenant.status_code == 201, tenant.text
        l_key = await _key(http, {**auth, "x-tenant-id": tenant.json()["id"]})
        async with contextlib.AsyncExitStack() as stack:
            connections = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=service.base_url, timeout=10))
                for _ in range(CONNECTIONS + 1)
            ]
            for connection in connections:  # opened, and spread over the workers, before the clock starts
                assert (await connection.get("/health")).status_code == 200
            started = time.monotonic()
            until = started + SECONDS
            k_answers: list[tuple[float, httpx.Response]] = []
            l_answers: list[tuple[float, httpx.Response]] = []
            # K: 12 connections, each up to 10 requests/s (several times the rate); L: one at 4/s.
            await asyncio.gather(
                *(_hammer(c, k, until, 0.1, k_answers) for c in connections[:CONNECTIONS]),
                _hammer(connections[CONNECTIONS], l_key, until, 0.25, l_answers),
            )
    took = max(at for at, _ in k_answers) - started
    k_statuses, l_statuses = (
        Counter(r.status_code for _, r in k_answers),
        Counter(r.status_code for _, r in l_answers),
    )
    budget, one_bucket = BURST + RATE * took, _one_bucket([at for at, _ in k_answers])
    print(
        f"R7: K sent {len(k_answers)} in {took:.2f} s, accepted {k_statuses[200]} (budget {budget:.0f}, "
        f"{k_statuses[200] / budget:.2f} of it; one bucket {one_bucket}, {k_statuses[200] / one_bucket:.2f} "
        f"of it), 429: {k_statuses[429]}; L {dict(l_statuses)}"
    )
    assert set(k_statuses) <= {200, 429} and set(l_statuses) == {200}
    assert len(k_answers) > 1.5 * budget, "K did not burst past its limit"
    assert k_statuses[200] <= 1.1 * budget
    assert k_statuses[200] >= FLOOR * one_bucket, "the shared limit admitted less than one bucket would"
    assert all(int(r.headers["retry-after"]) >= 1 for _, r in k_answers if r.status_code == 429)


async def test_failed_logins_are_throttled_across_two_workers(tmp_path: Path) -> None:
    """The login throttle (failures per identifier and client address) is shared too: wrong passwords
    sent over new connections, spread across both workers, are admitted about LOGIN_ATTEMPTS_PER_MINUTE
    times in all (one interval's credit per worker at most over it), then 429."""
    per_minute = 5
    async with running_service(tmp_path, 2, LOGIN_ATTEMPTS_PER_MINUTE=str(per_minute)) as service:
        statuses = []
        for _ in range(24):
            async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as fresh:
                body = {"identifier": "admin@reten.local", "password": "wrong-password"}
                statuses.append((await fresh.post("/api/auth/login", json=body)).status_code)
            await asyncio.sleep(0.05)
    counted = Counter(statuses)
    print(f"R7 login: {dict(counted)} of 24 wrong passwords (limit {per_minute} per minute)")
    assert set(counted) <= {401, 429}
    assert per_minute <= counted[401] <= per_minute + 2
