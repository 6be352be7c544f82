"""R7 (research/reliability-security.md §7; issue 17, item 1): a key's rate limit holds across the
workers of `reten run` (2 here), whose buckets are shared through PostgreSQL: key K, bursting at about
twice its limit over many connections (spread over both workers), gets no more than its budget (burst +
rate x time) + 10 %, and its excess is 429 with Retry-After; key L of another tenant, at a modest rate
meanwhile, gets no 429; no 5xx. Before, each worker had its own buckets and K got twice its budget."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx

from reliability.service import running_service

RATE, BURST, SECONDS, CONNECTIONS = 20.0, 20, 4.0, 12
URL = "/api/activities?per_page=1"


async def _key(http: httpx.AsyncClient, auth: dict[str, str]) -> str:
    body = {"name": "r7", "permissions": ["VIEW_ACTIVITIES"]}
    response = await http.post("/api/api-keys", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["plaintextKey"])


async def _hammer(base_url: str, key: str, until: float, pause_s: float, out: list[httpx.Response]) -> None:
    """One connection sending requests with ``key`` until ``until``."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while time.monotonic() < until:
            out.append(await http.get(URL, headers={"x-api-key": key}))
            await asyncio.sleep(pause_s)


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
        started = time.monotonic()
        until = started + SECONDS
        k_answers: list[httpx.Response] = []
        l_answers: list[httpx.Response] = []
        # K: 12 connections, each up to 10 requests/s (several times the rate); L: one connection at 4/s.
        await asyncio.gather(
            *(_hammer(service.base_url, k, until, 0.1, k_answers) for _ in range(CONNECTIONS)),
            _hammer(service.base_url, l_key, until, 0.25, l_answers),
        )
        took = time.monotonic() - started
    k_statuses, l_statuses = (
        Counter(r.status_code for r in k_answers),
        Counter(r.status_code for r in l_answers),
    )
    budget = BURST + RATE * took
    print(
        f"R7: K sent {len(k_answers)} in {took:.1f} s, accepted {k_statuses[200]} (budget {budget:.0f}, "
        f"{k_statuses[200] / budget:.2f} of it), 429: {k_statuses[429]}; L {dict(l_statuses)}"
    )
    assert set(k_statuses) <= {200, 429} and set(l_statuses) == {200}
    assert len(k_answers) > 1.5 * budget, "K did not burst past its limit"
    assert k_statuses[200] <= 1.1 * budget
    assert k_statuses[200] >= 0.6 * budget, "the shared limit admitted far less than the budget"
    assert all(int(r.headers["retry-after"]) >= 1 for r in k_answers if r.status_code == 429)


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
