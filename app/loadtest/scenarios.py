"""The scenarios of ``reten loadtest run``, over real HTTP against a running service, with the keys file
``reten loadtest seed`` wrote:

- ``pull``: integration pulls (``GET /api/integration/activities/tasks``), a random tenant's key per
  request; ``--page P`` (offset) or ``--cursor-page P`` (the cursor of page P, found by walking there
  first; only tenants with that many pages take part); ``--per-page``, ``--status``.
- ``results``: result submissions (``POST /api/integration/activity-results/tasks``), each for a
  distinct READY task found by pulling ``status=READY`` first (COMPLETED, EFFECTIVE).
- ``admin``: the admin panel with a JWT: activity list pages and single activities, alternately.
- ``mixed``: the realistic day: 70 % pulls of pending tasks, 15 % result submissions, 10 % task
  creations, 5 % admin calls.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from app.loadtest.driver import StopLoad

__all__ = (
    "PULL",
    "SCENARIOS",
    "Context",
    "Options",
    "Target",
    "build",
    "create_task",
    "pull_query",
    "result_body",
    "walk",
)

SCENARIOS = ("pull", "results", "mixed", "admin")
PULL = "/api/integration/activities/tasks"
RESULTS = "/api/integration/activity-results/tasks"
SCHEDULED = "2031-01-16T09:00:00.000Z"

Request = Callable[[int], Awaitable[int]]


@dataclass
class Options:
    per_page: int = 100
    page: int = 1
    cursor_page: int | None = None
    status: str | None = None
    pool: int = 30_000  # READY tasks gathered for result submissions
    seed: int = 1


@dataclass
class Target:
    """A READY task a result can be submitted for."""

    key: str
    activity_id: str
    commerce_external_id: str


@dataclass
class Context:
    http: aiohttp.ClientSession
    world: dict[str, Any]
    options: Options
    rng: random.Random
    targets: list[Target] = field(default_factory=list)
    jwt: str | None = None


async def _status(response: aiohttp.ClientResponse) -> int:
    await response.read()
    return int(response.status)


async def _json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with http.request(method, url, **kwargs) as response:
        body = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {body}")
        return body


async def walk(http: aiohttp.ClientSession, key: str, query: str, pages: int) -> tuple[list[Any], str | None]:
    """Up to ``pages`` cursor pages of a pull; returns the items and the cursor that follows them."""
    items: list[Any] = []
    cursor = ""
    for _ in range(pages):
        body = await _json(http, "GET", f"{PULL}?{query}&cursor={cursor}", headers={"x-api-key": key})
        items += body["data"]
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            break
    return items, cursor


def pull_query(options: Options, **extra: Any) -> str:
    params = {"per_page": options.per_page, **extra}
    if options.status:
        params["status"] = options.status
    return "&".join(f"{k}={v}" for k, v in params.items())


async def _pull(ctx: Context) -> Request:
    tenants = ctx.world["tenants"]
    options = ctx.options
    if options.cursor_page is not None:
        urls = []
        for t in tenants:
            if t["tasks"] >= options.cursor_page * options.per_page:
                _, cursor = await walk(ctx.http, t["key"], pull_query(options), options.cursor_page - 1)
                urls.append((t["key"], f"{PULL}?{pull_query(options)}&cursor={cursor}"))
        if not urls:
            raise SystemExit(f"no tenant has {options.cursor_page} pages: seed a bigger tenant")
    else:
        deep = [t for t in tenants if t["tasks"] >= options.page * options.per_page] or tenants
        urls = [(t["key"], f"{PULL}?{pull_query(options, page=options.page)}") for t in deep]

    async def request(n: int) -> int:
        key, url = urls[ctx.rng.randrange(len(urls))]
        async with ctx.http.get(url, headers={"x-api-key": key}) as r:
            return await _status(r)

    return request


async def _gather_targets(ctx: Context) -> None:
    per_tenant = -(-ctx.options.pool // len(ctx.world["tenants"]))
    for t in ctx.world["tenants"]:
        items, _ = await walk(ctx.http, t["key"], "status=READY&per_page=100", -(-per_tenant // 100))
        ctx.targets += [Target(t["key"], i["id"], i["commerceExternalId"]) for i in items[:per_tenant]]
    ctx.rng.shuffle(ctx.targets)


def result_body(target: Target) -> dict[str, Any]:
    return {
        "activity_id": target.activity_id,
        "commerce_external_id": target.commerce_external_id,
        "occurred_at": "2031-01-16T14:30:00.000Z",
        "status": "EFFECTIVE",
        "task_result": {"result": "SALE_COMPLETED", "comment": "Order placed", "contact_type": "OUTBOUND"},
    }


async def _results(ctx: Context) -> Request:
    await _gather_targets(ctx)
    taken = itertools.count()

    async def request(n: int) -> int:
        i = next(taken)
        if i >= len(ctx.targets):
            raise PoolExhausted(
                f"all {len(ctx.targets)} READY tasks gathered have a result: seed more, raise --pool or "
                "shorten the run"
            )
        target = ctx.targets[i]
        headers = {"x-api-key": target.key}
        async with ctx.http.post(RESULTS, json=result_body(target), headers=headers) as r:
            return await _status(r)

    return request


class PoolExhausted(StopLoad):
    """Every gathered READY task has its result: seed more tasks, raise --pool or shorten the run."""


async def _admin(ctx: Context) -> Request:
    login = {"identifier": ctx.world["admin"]["email"], "password": ctx.world["admin"]["password"]}
    token = (await _json(ctx.http, "POST", "/api/auth/login", json=login))["accessToken"]
    tenants = ctx.world["tenants"]
    samples = []
    for t in tenants:
        items, _ = await walk(ctx.http, t["key"], "per_page=20", 1)
        samples.append([i["id"] for i in items])

    async def request(n: int) -> int:
        k = ctx.rng.randrange(len(tenants))
        headers = {"authorization": f"Bearer {token}", "x-tenant-id": tenants[k]["id"]}
        url = (
            "/api/activities?per_page=25"
            if n % 2 == 0 or not samples[k]
            else (f"/api/activities/{ctx.rng.choice(samples[k])}")
        )
        async with ctx.http.get(url, headers=headers) as r:
            return await _status(r)

    return request


async def create_task(ctx: Context) -> Request:
    tag = secrets.token_hex(4)
    tenants = ctx.world["tenants"]

    async def request(n: int) -> int:
        t = tenants[ctx.rng.randrange(len(tenants))]
        k = ctx.rng.randrange(len(t["operator_ids"]))
        body = {
            "reason": "Load test visit",
            "channel": "SALESMAN",
            "commerce_id": ctx.rng.choice(t["commerce_ids"]),
            "idempotency_key": f"lt-run-{tag}-{n}",
            "assigned_route_id": t["route_id"],
            "assigned_operator_id": t["operator_ids"][k],
            "scheduled_at": SCHEDULED,
        }
        async with ctx.http.post("/api/activities/tasks", json=body, headers={"x-api-key": t["key"]}) as r:
            return await _status(r)

    return request


async def _mixed(ctx: Context) -> Request:
    ctx.options.status = ctx.options.status or "PENDING"
    ctx.options.pool = min(ctx.options.pool, 5_000)
    pull, submit, create, admin = (
        await _pull(ctx),
        await _results(ctx),
        await create_task(ctx),
        await _admin(ctx),
    )
    mix = [pull] * 14 + [submit] * 3 + [create] * 2 + [admin]

    async def request(n: int) -> int:
        return await mix[ctx.rng.randrange(len(mix))](n)

    return request


_BUILDERS = {"pull": _pull, "results": _results, "mixed": _mixed, "admin": _admin}


async def build(
    scenario: str, http: aiohttp.ClientSession, world: dict[str, Any], options: Options
) -> Request:
    """The request function of ``scenario`` (its preparation, e.g. finding cursors, is done here)."""
    return await _BUILDERS[scenario](Context(http, world, options, random.Random(options.seed)))  # noqa: S311 - load shape
