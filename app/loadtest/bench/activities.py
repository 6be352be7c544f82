"""``reten bench activities``: activity creates and result submits over real HTTP at a fixed concurrency,
each next to ``pgbench`` running the same SQL transaction in the same run (the limit the service is
compared with).

The service runs as its own process (uvicorn, ``--workers``) so the load generator does not share its
interpreter. Requests carry an API key (the integration path: one pool acquire per request).
The pgbench scripts are not written by hand: one create and one submit are run through the service's own
functions on a connection with a query logger, and the statements captured (BEGIN and the tenant context,
then exactly what the service sends, then COMMIT) become the script, with the activity id and the
idempotency key made unique per transaction and the result aimed at a random pre-created activity.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

__all__ = ("run",)

COMMERCES = 20
SCHEDULED = "2031-01-16T09:00:00.000Z"


# ---------------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------------
async def _setup(http: Any, token: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    """Commerces with people, a route with an operator, two attribute keys, an API key."""
    jwt = {"authorization": f"Bearer {token}", "x-tenant-id": str(tenant_id)}

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await http.post(path, json=body, headers=jwt)
        data = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"{path}: {response.status} {data}")
        return dict(data)

    commerces = []
    for n in range(COMMERCES):
        c = await post(
            "/api/commerces",
            {
                "external_id": f"bench-c{n}",
                "name": f"Bench store {n}",
                "tax_id": f"bench-tax-{n}",
                "metadata": {"promotions": [{"sku": "P1", "discount": 10}]},
                "addresses": [
                    {"source_ref": "a1", "street": "Main", "street_number": str(n), "is_primary": True}
                ],
                "users": [
                    {"external_id": "owner", "name": "Olga Owner", "roles": ["OWNER"]},
                    {"external_id": "rep", "name": "Rita Rep", "roles": ["COMMERCE_REP"]},
                ],
            },
        )
        commerces.append(c["id"])
    route = await post("/api/routes", {"name": "Bench route", "code": "BR"})
    operator = await post("/api/operators", {"type": "SALESMAN", "name": "Bench Operator"})
    await post(f"/api/routes/{route['id']}/operators", {"operatorId": operator["id"]})
    key = await post(
        "/api/api-keys",
        {"name": "bench", "permissions": ["CREATE_ACTIVITY", "VIEW_ACTIVITIES", "SUBMIT_ACTIVITY_RESULT"]},
    )
    return {
        "commerces": commerces,
        "route": route["id"],
        "operator": operator["id"],
        "key": key["plaintextKey"],
    }


def task_body(world: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
    return {
        "reason": "Monthly visit",
        "channel": "SALESMAN",
        "commerce_id": world["commerces"][n % COMMERCES],
        "idempotency_key": f"{prefix}-{n}",
        "assigned_route_id": world["route"],
        "assigned_operator_id": world["operator"],
        "scheduled_at": SCHEDULED,
        "attribute_keys": ["commerce_info", "promotions"],
    }


def result_body(activity_id: str) -> dict[str, Any]:
    """A COMPLETED result for a pre-created task (all of the first commerce)."""
    return {
        "activity_id": activity_id,
        "commerce_external_id": "bench-c0",
        "occurred_at": "2031-01-16T14:30:00.000Z",
        "status": "COMPLETED",
        "task_result": {"result": "SALE_COMPLETED", "comment": "Order placed", "contact_type": "OUTBOUND"},
    }


def _target_id(n: int) -> uuid.UUID:
    """The id of pre-created activity ``n`` (the same expression pgbench computes in SQL)."""
    import hashlib

    return uuid.UUID(hashlib.md5(f"pre-{n}".encode()).hexdigest())  # noqa: S324 - an id, not a digest


async def _precreate(dsn: str, tenant_id: uuid.UUID, world: dict[str, Any], count: int) -> None:
    """``count`` READY tasks of the first commerce for the result phases (setup, not measured), with ids
    pgbench can compute: md5('pre-' || n)::uuid."""
    import asyncpg

    from app.db import open_transaction

    conn = await asyncpg.connect(dsn)
    try:
        await open_transaction(conn, readonly=False, tenant_id=tenant_id)
        await conn.execute("set local statement_timeout = 0")  # setup of ~200k rows, not a request
        await conn.execute(
            """
            insert into app.activities (id, type, channel, status, reason, idempotency_key, scheduled_at,
                                        commerce_id, route_id, operator_id)
            select md5('pre-' || n)::uuid, 'TASK', 'SALESMAN', 'READY', 'Monthly visit', 'pre-' || n, now(),
                   $1, $2, $3
              from generate_series(0, $4 - 1) n
            """,
            uuid.UUID(world["commerces"][0]),
            uuid.UUID(world["route"]),
            uuid.UUID(world["operator"]),
            count,
        )
        await conn.execute("commit")
    finally:
        await conn.close()


SERVICE_SHARE = 60_000  # pre-created activities [0, 60k) are the service's; the rest pgbench's
PER_CLIENT = 5_000


async def measure(
    settings: Any, concurrency: int, duration_s: float, workers: int
) -> list[tuple[str, str, dict[str, Any]]]:
    import aiohttp
    import msgspec

    from app.activities.create import create as create_activity
    from app.activities.schemas import TaskCreate
    from app.db import Tx, begin_statement
    from app.loadtest import baseline
    from app.loadtest.bench.common import BENCH_EMAIL, BENCH_PASSWORD
    from app.loadtest.driver import drive
    from app.results import service as results
    from app.results.schemas import ResultSubmit

    rows: list[tuple[str, str, dict[str, Any]]] = []
    create_label = "create task (2 attribute keys, ON_CREATION)"
    result_label = "submit result (COMPLETED)"
    with baseline.service(settings, workers) as base:
        await baseline.wait_up(base)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(base, connector=connector) as http:
            credentials = {"identifier": BENCH_EMAIL, "password": BENCH_PASSWORD}
            token = (await (await http.post("/api/auth/login", json=credentials)).json())["accessToken"]
            mine = await http.get("/api/tenant/mine", headers={"authorization": f"Bearer {token}"})
            tenant_id = uuid.UUID((await mine.json())[0]["id"])
            world = await _setup(http, token, tenant_id)
            headers = {"x-api-key": world["key"]}
            await _precreate(
                settings.database_url, tenant_id, world, SERVICE_SHARE + concurrency * PER_CLIENT + PER_CLIENT
            )

            async def create(n: int) -> int:
                body = task_body(world, n, "svc")
                async with http.post("/api/activities/tasks", json=body, headers=headers) as r:
                    await r.read()
                    return int(r.status)

            async def submit(n: int) -> int:
                body = result_body(str(_target_id(n)))
                async with http.post("/api/activity-results/tasks", json=body, headers=headers) as r:
                    await r.read()
                    return int(r.status)

            rows.append(
                ("service", create_label, await drive(concurrency, duration_s, create, progress=False))
            )
            rows.append(
                ("service", result_label, await drive(concurrency, duration_s, submit, progress=False))
            )

    # pgbench: the same transactions, captured from the service's own functions.
    sample = msgspec.convert(task_body(world, 0, "capture"), TaskCreate)
    begin = begin_statement(readonly=False, tenant_id=tenant_id)
    captured, created = await baseline.capture(
        settings.database_url, begin, lambda conn: create_activity(Tx(conn, tenant_id), sample)
    )
    unique_key = "'pgb-' || :client_id || '-' || :k"
    script = "\\set k random(1, 1000000000000)\n" + baseline.script(
        captured, begin, {"capture-0": unique_key, created.id: "gen_random_uuid()"}
    )
    rows.append(
        ("pgbench", create_label, baseline.pgbench(settings.database_url, [script], concurrency, duration_s))
    )

    spare = _target_id(SERVICE_SHARE + concurrency * PER_CLIENT)
    submission = msgspec.convert(result_body(str(spare)), ResultSubmit)
    captured, _ = await baseline.capture(
        settings.database_url, begin, lambda conn: results.submit(Tx(conn, tenant_id), submission)
    )
    script = f"\\set i :i + 1\n\\set n {SERVICE_SHARE} + :client_id * {PER_CLIENT} + :i\n" + baseline.script(
        captured, begin, {spare: "md5('pre-' || :n)::uuid"}
    )
    figures = baseline.pgbench(settings.database_url, [script], concurrency, duration_s, define={"i": "0"})
    rows.append(("pgbench", result_label, figures))
    return rows


def report(rows: list[tuple[str, str, dict[str, Any]]], concurrency: int, workers: int) -> None:
    print(
        f"activities: {concurrency} concurrent clients; service = uvicorn with {workers} workers behind real "
        "HTTP (aiohttp client in this process, API key); pgbench = the same SQL transaction "
        "(-M prepared, -j 2)"
    )
    limits = {label: figures["rps"] for who, label, figures in rows if who == "pgbench"}
    print(f"{'who':<8} {'operation':<44} {'per s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'ratio':>6}")
    for who, label, f in rows:
        p50 = (
            f"{f['p50_ms']:7.1f}"
            if f.get("p50_ms") is not None
            else f"{'avg ' + format(f['avg_ms'], '.1f'):>7}"
        )
        p99 = f"{f['p99_ms']:7.1f}" if f.get("p99_ms") is not None else f"{'-':>7}"
        ratio = f["rps"] / limits[label]
        print(f"{who:<8} {label:<44} {f['rps']:8.0f} {p50} {p99} {f['errors']:6d} {ratio:6.2f}")


def run(settings: Any, concurrency: int, duration_s: float, workers: int) -> int:
    from app.bootstrap import create_super_admin
    from app.loadtest.bench.common import BENCH_EMAIL, BENCH_PASSWORD

    asyncio.run(create_super_admin(settings, BENCH_EMAIL, BENCH_PASSWORD, tenant_slug="bench"))
    rows = asyncio.run(measure(settings, concurrency, duration_s, workers))
    report(rows, concurrency, workers)
    return 0
