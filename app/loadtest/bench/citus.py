"""``reten bench citus`` (part of ``make bench``): the same requests against one PostgreSQL (the embedded
server) and a local Citus cluster (a coordinator and two workers), side by side, with the Task Count of
every statement those requests run on Citus.

Each side gets a fresh database seeded alike (``TENANTS`` tenants of ``SMALL`` tasks and one of ``BIG``,
so that page 1,000 exists at 100 per page), then the service (uvicorn, ``--workers``) and the load-test
harness at ``CONCURRENCY`` connections, ``--duration`` seconds per operation:

- integration pull, page 1 (offset mode, with its count), a random small tenant's key per request;
- integration pull, page 1,000 via cursor, of the big tenant;
- result submits (status EFFECTIVE), each for a distinct READY task;
- task creates (``POST /api/activities/tasks`` with an API key).

The statements are not listed by hand: each operation is run once more through the service's own
function on a Citus connection with a query logger (rolled back), and every statement it sent is
EXPLAINed with the values it was sent with. On a machine with a few cores the coordinator, the two
workers, the service and the load generator share them: the figures show what a request costs on Citus,
not how it scales.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.db import Statement, Tx, statements

__all__ = ("run", "task_counts")

TENANTS = 10
SMALL = 2_000
BIG = 101_000
DEEP = 1_000
CONCURRENCY = 32
CITUS_DB = "reten_bench_citus"
PAGE_1 = "pull page 1 (offset, with count)"
PAGE_DEEP = f"pull page {DEEP:,} via cursor"
SUBMIT = "result submit (EFFECTIVE)"
CREATE = "task create"
API_KEY = "auth.api_key_principal"  # once per key and service worker, then cached
_TASK_COUNT = re.compile(r"Task Count: (\d+)")
_TYPE_NAMES = (
    "select array_agg(format_type(t, null) order by n) from unnest($1::oid[]) with ordinality u(t, n)"
)


# ---------------------------------------------------------------------------------------------------
# Task Count
# ---------------------------------------------------------------------------------------------------
async def task_counts(conn: Any, name: str, params: dict[str, Any]) -> list[int]:
    """The ``Task Count`` of each distributed step of statement ``name`` ("namespace.query") run with
    ``params`` (its parameters by name), from EXPLAIN on ``conn`` (a transaction in the tenant's context,
    which the caller rolls back). The values go in as constants, rendered by the server from the bound
    values: the plan Citus makes for each execution (bound parameters are not always accepted in an
    EXPLAIN: "could not create distributed plan" for a parameter passed on to a SQL function). An
    empty list: no distributed step (plain PostgreSQL, or a function whose statements the plan does not
    show)."""
    statement = statements()[name]
    sql = statement.sql
    args = [params[p] for p in statement.parameters]
    if args:
        oids = [p.oid for p in (await conn.prepare(sql)).get_parameters()]
        types = await conn.fetchval(_TYPE_NAMES, oids)
        quoted = ", ".join(f"quote_nullable(${n}::{t})" for n, t in enumerate(types, 1))
        literals = await conn.fetchrow(f"select {quoted}", *args)
        for n in range(len(args), 0, -1):  # $12 before $1
            sql = sql.replace(f"${n}", f"{literals[n - 1]}::{types[n - 1]}")
    plan = await conn.fetch(f"explain (costs off) {sql}")
    return [int(m.group(1)) for row in plan if (m := _TASK_COUNT.search(row[0]))]


def _statement_names() -> dict[str, Statement]:
    """Every statement's SQL as sent (aiosql's form) -> the statement."""
    return {statement.sql: statement for statement in statements().values()}


async def _sent(
    dsn: str, tenant_id: uuid.UUID, readonly: bool, action: Callable[[Any], Awaitable[Any]]
) -> list[tuple[str, dict[str, Any] | None]]:
    """The statements ``action(conn)`` sends in a Citus request transaction of the tenant (rolled back),
    by name, with their parameters by name."""
    from app.db import opening
    from app.loadtest import baseline

    first, *context = opening(True, readonly=readonly, tenant_id=tenant_id)

    async def in_context(conn: Any) -> Any:
        for statement in context:
            await conn.execute(statement)
        return await action(conn)

    captured, _ = await baseline.capture(dsn, first, in_context)
    names = _statement_names()
    sent: list[tuple[str, dict[str, Any] | None]] = []
    for sql, args in captured:
        if sql in context:
            continue
        statement = names.get(sql)
        if statement is None:  # not an aiosql statement: shown by its first words, not EXPLAINed
            sent.append((" ".join(sql.split()[:4]), None))
            continue
        sent.append((statement.name, dict(zip(statement.parameters, args, strict=True))))
    return sent


async def _operations(dsn: str, world: dict[str, Any], deep_cursor: str) -> dict[str, list[Any]]:
    """Per operation, the statements its request runs (one request each, rolled back)."""
    import msgspec

    from app.activities.create import create as create_activity
    from app.activities.schemas import TaskCreate
    from app.integration import service as integration
    from app.loadtest.bench.activities import task_body
    from app.loadtest.bench.pull import PER_PAGE
    from app.loadtest.scenarios import Target, result_body
    from app.loadtest.seed import task_id
    from app.results import service as results
    from app.results.schemas import IntegrationResultSubmit
    from app.structs import Pagination, decode_cursor

    big, small = world["tenants"][0], world["tenants"][1]
    filters = ("result_status", "channel", "commerce_external_id", "operator_external_id", "scheduled_from")
    no_filters = dict.fromkeys((*filters, "scheduled_to"))

    def pull(tenant_id: uuid.UUID, page: Any) -> Callable[[Any], Awaitable[Any]]:
        return lambda conn: integration.pull(
            Tx(conn, tenant_id), page, status=None, updated_since=None, settle_s=0, **no_filters
        )

    # The big tenant's last READY task (n % 20 == 0): the harness takes READY tasks from the start.
    big_id, n = uuid.UUID(big["id"]), BIG - 20
    commerces = big["commerce_external_ids"]
    target = Target(big["key"], str(task_id(big_id, n)), commerces[n % len(commerces)])
    submission = msgspec.convert(result_body(target), IntegrationResultSubmit)
    directory = {
        "commerces": small["commerce_ids"],
        "route": small["route_id"],
        "operator": small["operator_ids"][0],
    }
    task = msgspec.convert({**task_body(directory, 0, "bench-explain"), "attribute_keys": []}, TaskCreate)
    deep = Pagination(page=1, limit=PER_PAGE, keyset=True, after=decode_cursor(deep_cursor))
    small_id = uuid.UUID(small["id"])
    runs = [
        (PAGE_1, small_id, True, pull(small_id, Pagination(page=1, limit=PER_PAGE))),
        (PAGE_DEEP, big_id, True, pull(big_id, deep)),
        (SUBMIT, big_id, False, lambda conn: results.submit(Tx(conn, big_id), submission)),
        (CREATE, small_id, False, lambda conn: create_activity(Tx(conn, small_id), task)),
    ]
    return {
        label: [tenant, await _sent(dsn, tenant, readonly, action)]
        for label, tenant, readonly, action in runs
    }


async def explain(dsn: str, world: dict[str, Any], deep_cursor: str) -> dict[str, list[tuple[str, str]]]:
    """Per operation, (statement, its Task Counts as text) for every statement its request runs on
    Citus; the API-key lookup (cross-tenant, once per key) under API_KEY."""
    import asyncpg

    from app.auth.api_keys import digest
    from app.db import init_connection, open_transaction

    operations = await _operations(dsn, world, deep_cursor)
    operations[API_KEY] = [None, [(API_KEY, {"digest": digest(world["tenants"][1]["key"])})]]
    conn = await asyncpg.connect(dsn)
    out: dict[str, list[tuple[str, str]]] = {}
    try:
        await init_connection(conn)
        for label, (tenant_id, statements) in operations.items():
            rows = out.setdefault(label, [])
            for name, params in statements:
                if params is None:
                    rows.append((name, "n/a (not an aiosql statement)"))
                    continue
                await open_transaction(conn, readonly=False, tenant_id=tenant_id)
                try:
                    counts = await task_counts(conn, name, params)
                    shown = ", ".join(map(str, counts)) if counts else "n/a (no Task Count in the plan)"
                except asyncpg.PostgresError as exc:  # a finding to print, not a reason to lose the figures
                    shown = f"EXPLAIN failed: {type(exc).__name__}: {exc}"
                finally:
                    await conn.execute("rollback")
                rows.append((name, shown))
    finally:
        await conn.close()
    return out


# ---------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------
async def _creates(base: str, world: dict[str, Any], duration_s: float) -> dict[str, Any]:
    """Task creates by the load-test harness's own request (a random tenant, commerce and operator)."""
    import aiohttp

    from app.loadtest.driver import drive
    from app.loadtest.scenarios import Context, Options, create_task

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        request = await create_task(Context(http, world, Options(), random.Random(1)))  # noqa: S311 - load shape
        return dict(await drive(CONCURRENCY, duration_s, request, progress=False))


async def measure(
    side: str, settings: Any, owner_dsn: str, duration_s: float, workers: int, *, walk: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str | None]:
    """Seed, serve and load one side; its figures per operation, its world and (``walk``) the cursor of
    the big tenant's page DEEP."""
    import aiohttp

    from app import db
    from app.loadtest import baseline
    from app.loadtest.bench.pull import PER_PAGE, cursor_at
    from app.loadtest.cli import run_scenario
    from app.loadtest.scenarios import Options
    from app.loadtest.seed import seed

    db.forget_server_kind()  # asked once per process: this process talks to both servers
    print(f"{side}: seeding {TENANTS} tenants x {SMALL:,} tasks + 1 x {BIG:,}", flush=True)
    keys = Path(settings.data_dir) / f"bench-citus-keys-{side.lower()}.json"
    world = await seed(
        settings,
        out=keys,
        owner_dsn=owner_dsn,
        tenants_count=TENANTS + 1,
        activities=SMALL,
        big_tenant_activities=BIG,
    )
    big, small = world["tenants"][0], world["tenants"][1:]
    figures: dict[str, dict[str, Any]] = {}
    with baseline.service(settings, workers) as base:
        await baseline.wait_up(base)
        cases = [
            (PAGE_1, {**world, "tenants": small}, "pull", Options(per_page=PER_PAGE)),
            (PAGE_DEEP, {**world, "tenants": [big]}, "pull", Options(per_page=PER_PAGE, cursor_page=DEEP)),
            (SUBMIT, world, "results", Options(pool=30_000)),
        ]
        for label, scope, scenario, options in cases:
            figures[label] = await run_scenario(
                base, scope, scenario, CONCURRENCY, duration_s, options, progress=False
            )
            _progress(side, label, figures[label])
        figures[CREATE] = await _creates(base, world, duration_s)
        _progress(side, CREATE, figures[CREATE])
        deep_cursor = None
        if walk:
            async with aiohttp.ClientSession(base) as http:
                deep_cursor = await cursor_at(http, big["key"], DEEP - 1)
    return figures, world, deep_cursor


def _progress(side: str, label: str, f: dict[str, Any]) -> None:
    bad = {k: v for k, v in f["by_status"].items() if not k.startswith("2")}
    stopped = f"  STOPPED EARLY: {f['stopped']}" if f.get("stopped") else ""
    print(
        f"  {side:<10} {label:<34} {f['rps']:8.0f}/s  p99 {f['p99_ms']:7.1f} ms  errors {f['errors']}"
        + (f" {json.dumps(bad)}" if bad else "")
        + stopped,
        flush=True,
    )


async def _citus_version(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("select citus_version()")).split(" on ")[0]
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------
def report(
    plain: dict[str, dict[str, Any]],
    citus: dict[str, dict[str, Any]],
    counts: dict[str, list[tuple[str, str]]],
    *,
    workers: int,
    duration_s: float,
    version: str,
) -> None:
    cores = os.cpu_count()
    plural = "s" if workers != 1 else ""
    print(
        f"PostgreSQL vs Citus: {platform.machine()} with {cores} cores; service = uvicorn with {workers} "
        f"worker{plural}; {CONCURRENCY} connections (reten loadtest harness, in this process); "
        f"{duration_s:g} s per operation after 2 s warm-up; each side seeded with {TENANTS} tenants x "
        f"{SMALL:,} tasks + 1 x {BIG:,}; {version}, coordinator + 2 workers on this machine"
    )
    print(
        f"{cores} cores: this measures per-request cost on a coordinator and two workers sharing the "
        "machine, not scale"
    )
    side = f"{'per s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    print(f"{'':<34} {'PostgreSQL':^30} {'Citus':^30}")
    print(f"{'operation':<34} {side} {side} {'Citus/PG':>8}  statement: Task Count on Citus")

    def cells(f: dict[str, Any]) -> str:
        return f"{f['rps']:7.0f} {f['p50_ms']:7.1f} {f['p99_ms']:7.1f} {f['errors']:6d}"

    for label in (PAGE_1, PAGE_DEEP, SUBMIT, CREATE):
        statements = counts.get(label) or [("?", "n/a")]
        ratio = citus[label]["rps"] / plain[label]["rps"] if plain[label]["rps"] else float("nan")
        first = f"{label:<34} {cells(plain[label])} {cells(citus[label])} {ratio:8.2f}"
        for n, (name, shown) in enumerate(statements):
            print(f"{first if n == 0 else '':<{len(first)}}  {name}: {shown}")
    for name, shown in counts.get(API_KEY, []):
        print(
            f"API-key lookup (once per key and service worker, then cached): {name}: {shown} "
            "(a SECURITY DEFINER function: EXPLAIN does not show the statements inside it)"
        )
    for label in (PAGE_1, PAGE_DEEP, SUBMIT, CREATE):
        for who, f in (("PostgreSQL", plain[label]), ("Citus", citus[label])):
            if f.get("stopped"):
                print(f"{who} {label}: stopped early: {f['stopped']}")


def run(settings: Any, owner_dsn: str, duration_s: float, workers: int) -> int:
    """``settings``/``owner_dsn``: the plain side (the fresh database app.bench.main made for it in the
    embedded server, ``BENCH_DBS["citus"]``). The Citus
    cluster runs under <data dir>/bench-citus/citus (not the tests' <data dir>/citus), with a fresh
    CITUS_DB, and is stopped at the end."""
    import msgspec

    from app.citus import bootstrap_citus, citus_tarball, start_citus
    from app.migrations import migrate

    plain, _, _ = asyncio.run(measure("PostgreSQL", settings, owner_dsn, duration_s, workers))
    cluster = start_citus(Path(settings.data_dir) / "bench-citus", tarball=citus_tarball())
    try:
        dsns = asyncio.run(bootstrap_citus(cluster, CITUS_DB, recreate=True))
        asyncio.run(migrate(dsns.owner))
        on_citus = msgspec.structs.replace(settings, database_url=dsns.app)
        citus, world, deep_cursor = asyncio.run(
            measure("Citus", on_citus, dsns.owner, duration_s, workers, walk=True)
        )
        assert deep_cursor is not None
        counts = asyncio.run(explain(dsns.app, world, deep_cursor))
        version = asyncio.run(_citus_version(dsns.app))
    finally:
        cluster.stop()
    report(plain, citus, counts, workers=workers, duration_s=duration_s, version=version)
    return 0
