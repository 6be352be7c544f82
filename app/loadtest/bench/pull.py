"""``reten bench pull`` (part of ``make bench``): the integration pull and result submits under the
load-test harness and under wrk, each next to pgbench running the same SQL in the same run.

Seed: ``TENANTS`` tenants of ``SMALL`` tasks and one of ``BIG`` (for the deep pages). Rows measured,
all with 100 items per page and ``CONCURRENCY`` connections:

- page 1 (offset mode, with its count), and page 1 via cursor (``cursor=``), a random small tenant's
  key per request;
- page 1,000 via cursor, and page 1,000 via offset (with its count), of the big tenant;
- result submits (status EFFECTIVE), each for a distinct READY task.

pgbench runs the statements the service sends for one request (captured from the service's own
functions: BEGIN with the tenant context and the route's planner settings, the statements, COMMIT):
one script per tenant for page 1, picked at random per transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

__all__ = ("PER_PAGE", "cursor_at", "run")

TENANTS = 10
SMALL = 2_000
BIG = 150_000
PER_PAGE = 100
DEEP = 1_000
CONCURRENCY = 64


def _pull_begin(tenant_id: uuid.UUID) -> str:
    from app.db import begin_statement

    return begin_statement(readonly=True, tenant_id=tenant_id, generic_plans=True)


async def _pull_script(dsn: str, tenant_id: uuid.UUID, page: Any) -> str:
    from app.db import Tx
    from app.integration import service
    from app.loadtest import baseline

    filters = dict.fromkeys(
        (
            "result_status",
            "channel",
            "commerce_external_id",
            "operator_external_id",
            "scheduled_from",
            "scheduled_to",
        )
    )
    begin = _pull_begin(tenant_id)
    captured, _ = await baseline.capture(
        dsn,
        begin,
        lambda conn: service.pull(
            Tx(conn, tenant_id), page, status=None, updated_since=None, settle_s=0, **filters
        ),
    )
    return baseline.script(captured, begin)


async def cursor_at(http: Any, key: str, pages: int) -> str:
    from app.loadtest.scenarios import Options, pull_query, walk

    _, cursor = await walk(http, key, pull_query(Options(per_page=PER_PAGE)), pages)
    assert cursor is not None
    return cursor


async def _submit_script(dsn: str, big: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The submit transaction for a READY task of the big tenant; pgbench aims each at a distinct one
    in the upper half of its tasks (the harness takes READY tasks from the start)."""
    import msgspec

    from app.db import Tx, begin_statement
    from app.loadtest import baseline
    from app.loadtest.scenarios import Target, result_body
    from app.loadtest.seed import task_id
    from app.results import service as results
    from app.results.schemas import IntegrationResultSubmit

    tenant_id = uuid.UUID(big["id"])
    half = BIG // 2 // 20 * 20  # a multiple of 20: task n is READY when n % 20 < 12
    sample = task_id(tenant_id, half + BIG // 4)
    body = result_body(Target(big["key"], str(sample), big["commerce_external_ids"][0]))
    begin = begin_statement(readonly=False, tenant_id=tenant_id)
    submission = msgspec.convert(body, IntegrationResultSubmit)
    captured, _ = await baseline.capture(
        dsn, begin, lambda conn: results.submit(Tx(conn, tenant_id), submission)
    )
    per_client = int(BIG / 2 * 12 / 20) // CONCURRENCY
    prelude = (
        f"\\set j :j + 1\n\\set s :client_id * {per_client} + :j\n\\set n {half} + 20 * (:s / 12) + :s % 12\n"
    )
    commerce = big["commerce_external_ids"][0]
    text = prelude + baseline.script(
        captured, begin, {sample: f"md5('{tenant_id}-' || :n)::uuid", commerce: "'" + commerce + "'"}
    )
    return text, {"j": "0"}


def _row(who: str, what: str, figures: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    print(f"  {who:<8} {what:<36} {figures['rps']:8.0f}/s  errors {figures['errors']}", flush=True)
    return (who, what, figures)


async def measure(
    settings: Any, owner_dsn: str, duration_s: float, workers: int
) -> list[tuple[str, str, dict[str, Any]]]:
    import aiohttp

    from app.loadtest import baseline
    from app.loadtest.cli import run_scenario
    from app.loadtest.scenarios import PULL, Options
    from app.loadtest.seed import seed
    from app.structs import Pagination

    keys = Path(settings.data_dir) / "bench-loadtest-keys.json"
    world = await seed(
        settings, tenants_count=TENANTS + 1, activities=SMALL, big_tenant_activities=BIG, out=keys,
        owner_dsn=owner_dsn,
    )  # fmt: skip
    big, small = world["tenants"][0], world["tenants"][1:]
    wrk = baseline.ensure_wrk()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    small_world = {**world, "tenants": small}
    big_world = {**world, "tenants": [big]}
    with baseline.service(settings, workers) as base:
        await baseline.wait_up(base)
        async with aiohttp.ClientSession(base) as http:
            deep_cursor = await cursor_at(http, big["key"], DEEP - 1)
        cases = [
            ("page 1 (offset, with count)", small_world, Options(per_page=PER_PAGE),
             [(t["key"], f"{PULL}?per_page={PER_PAGE}") for t in small]),
            ("page 1 via cursor (cursor=)", small_world, Options(per_page=PER_PAGE, cursor_page=1),
             [(t["key"], f"{PULL}?per_page={PER_PAGE}&cursor=") for t in small]),
            (f"page {DEEP:,} via cursor", big_world, Options(per_page=PER_PAGE, cursor_page=DEEP),
             [(big["key"], f"{PULL}?per_page={PER_PAGE}&cursor={deep_cursor}")]),
            (f"page {DEEP:,} via offset (with count)", big_world, Options(per_page=PER_PAGE, page=DEEP),
             [(big["key"], f"{PULL}?per_page={PER_PAGE}&page={DEEP}")]),
        ]  # fmt: skip
        for label, scope, options, targets in cases:
            report = await run_scenario(base, scope, "pull", CONCURRENCY, duration_s, options, progress=False)
            rows.append(_row("harness", label, report))
            if wrk:
                rows.append(_row("wrk", label, baseline.wrk(wrk, base, targets, CONCURRENCY, duration_s)))
        report = await run_scenario(
            base, world, "results", CONCURRENCY, duration_s, Options(pool=30_000), progress=False
        )
        rows.append(_row("harness", "result submit", report))

    dsn = settings.database_url
    scripts = [await _pull_script(dsn, uuid.UUID(t["id"]), Pagination(page=1, limit=PER_PAGE)) for t in small]
    rows.append(_row("pgbench", cases[0][0], baseline.pgbench(dsn, scripts, CONCURRENCY, duration_s)))
    from app.structs import decode_cursor

    first = Pagination(page=1, limit=PER_PAGE, keyset=True)
    scripts = [await _pull_script(dsn, uuid.UUID(t["id"]), first) for t in small]
    rows.append(_row("pgbench", cases[1][0], baseline.pgbench(dsn, scripts, CONCURRENCY, duration_s)))
    after = decode_cursor(deep_cursor)
    deep = Pagination(page=1, limit=PER_PAGE, keyset=True, after=after)
    script = await _pull_script(dsn, uuid.UUID(big["id"]), deep)
    rows.append(_row("pgbench", cases[2][0], baseline.pgbench(dsn, [script], CONCURRENCY, duration_s)))
    script = await _pull_script(dsn, uuid.UUID(big["id"]), Pagination(page=DEEP, limit=PER_PAGE))
    rows.append(_row("pgbench", cases[3][0], baseline.pgbench(dsn, [script], CONCURRENCY, duration_s)))
    script, define = await _submit_script(dsn, big)
    rows.append(
        _row("pgbench", "result submit", baseline.pgbench(dsn, [script], CONCURRENCY, duration_s, define))
    )
    auth = await measure_auth(settings, small[0]["key"])
    print(
        f"API-key authentication, p50 per request (no load): {auth['cached']:.1f} us with the cache, "
        f"{auth['uncached']:.1f} us without it (a database lookup each time)",
        flush=True,
    )
    return rows


async def measure_auth(settings: Any, key: str, calls: int = 3000) -> dict[str, float]:
    """p50 of API-key authentication (the middleware's key path: form check, digest, lookup, rate
    limit), in microseconds: with the cache as configured, and with no cache (a database lookup on
    every request)."""
    import statistics
    import time

    import msgspec

    from app.asgi import create_app
    from app.auth.middleware import AuthMiddleware

    out: dict[str, float] = {}
    for label, ttl in (("cached", settings.api_key_cache_ttl_s), ("uncached", 0.0)):
        app = create_app(
            msgspec.structs.replace(
                settings, api_key_cache_ttl_s=ttl, api_key_burst=10**9, tenant_burst=10**9
            )
        )
        async with app.lifespan():  # the pool, on this event loop
            middleware = AuthMiddleware()
            scope: Any = {"litestar_app": app, "client": ("127.0.0.1", 0)}  # what the key path reads
            await middleware.key_principal(scope, key, {})  # warm: first lookup, prepared statement
            timings = []
            for _ in range(calls):
                started = time.perf_counter()
                await middleware.key_principal(scope, key, {})
                timings.append(time.perf_counter() - started)
        out[label] = statistics.median(timings) * 1e6
    return out


def report(rows: list[tuple[str, str, dict[str, Any]]], workers: int) -> None:
    print(
        f"integration pull: {PER_PAGE} items/page, {CONCURRENCY} connections; {TENANTS} tenants x "
        f"{SMALL:,} tasks + 1 x {BIG:,}; service = uvicorn with {workers} workers; harness = reten loadtest "
        "(aiohttp, in this process); wrk = 2 threads; pgbench = the same SQL per request (-M prepared, -j 2)"
    )
    limits = {label: f["rps"] for who, label, f in rows if who == "pgbench"}
    print(f"{'who':<8} {'operation':<36} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'ratio':>6}")
    for who, label, f in rows:
        p50 = f"{f['p50_ms']:8.1f}" if "p50_ms" in f else f"{'avg ' + format(f['avg_ms'], '.1f'):>8}"
        p99 = f"{f['p99_ms']:8.1f}" if "p99_ms" in f else f"{'-':>8}"
        ratio = f["rps"] / limits[label]
        print(f"{who:<8} {label:<36} {f['rps']:8.0f} {p50} {p99} {f['errors']:6d} {ratio:6.2f}")


def run(settings: Any, owner_dsn: str, duration_s: float, workers: int) -> int:
    rows = asyncio.run(measure(settings, owner_dsn, duration_s, workers))
    report(rows, workers)
    return 0
