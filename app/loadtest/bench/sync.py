"""``reten bench sync`` (part of ``make bench``) measures ``POST /api/commerces/sync`` over real HTTP
against a freshly migrated database: a first run (everything created), a repeat of the same payload
(nothing to write), and a run where every commerce changed. Next to it, the same rows written by plain
``INSERT ... SELECT`` statements straight to PostgreSQL (no HTTP, no validation, no matching): the floor
the service is compared with."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from app.bootstrap import create_super_admin
from app.loadtest.bench.common import BENCH_EMAIL, BENCH_PASSWORD
from app.serving import serve_locally

__all__ = ("print_sync_report", "run_sync_bench", "sync_items")


def sync_items(count: int, *, tag: str = "") -> list[dict[str, Any]]:
    """``count`` commerces, each with 2 addresses and 2 people (one with a phone contact)."""
    items = []
    for n in range(count):
        key = f"bench-{n:05d}"
        items.append(
            {
                "external_id": key,
                "name": f"Store {n}{tag}",
                "tax_id": f"tax-{n:05d}",
                "metadata": {"zone": n % 7},
                "addresses": [
                    {
                        "source_ref": f"{key}-a1",
                        "street": "Main",
                        "street_number": str(n),
                        "is_primary": True,
                    },
                    {"source_ref": f"{key}-a2", "street": "Side", "city": "Santiago", "latitude": -33.4},
                ],
                "users": [
                    {
                        "external_id": f"{key}-u1",
                        "name": "Maria Garcia",
                        "roles": ["OWNER"],
                        "contacts": [{"contact_type": "PHONE", "value": "+56912345678", "is_primary": True}],
                    },
                    {"external_id": f"{key}-u2", "name": "Juan Perez", "roles": ["COMMERCE_REP"]},
                ],
            }
        )
    return items


async def _floor(dsn: str, tenant_id: uuid.UUID, items: list[dict[str, Any]]) -> float:
    """Seconds to write the same rows with one plain INSERT ... SELECT per table, as the service role."""
    import asyncpg

    from app.db import json_param, open_transaction

    commerces, addresses, people, roles, contacts = [], [], [], [], []
    for item in items:
        cid = uuid.uuid4()
        commerces.append({"id": cid, "external_id": "floor-" + item["external_id"], "name": item["name"]})
        for a in item["addresses"]:
            addresses.append({"commerce_id": cid, "source": "INTEGRATION", "is_primary": False, **a})
        for u in item["users"]:
            pid = uuid.uuid4()
            people.append(
                {"id": pid, "commerce_id": cid, "external_id": u["external_id"], "first_name": u["name"]}
            )
            roles += [{"commerce_user_id": pid, "role": r} for r in u["roles"]]
            contacts += [
                {"commerce_user_id": pid, "source": "INTEGRATION", **c} for c in u.get("contacts", [])
            ]
    statements = [
        ("commerces", "id, external_id, name", commerces),
        (
            "commerce_addresses",
            "commerce_id, source, source_ref, street, street_number, city, latitude, is_primary",
            addresses,
        ),
        ("commerce_users", "id, commerce_id, external_id, first_name", people),
        ("commerce_user_roles", "commerce_user_id, role", roles),
        ("commerce_user_contacts", "commerce_user_id, source, contact_type, value, is_primary", contacts),
    ]
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await open_transaction(conn, readonly=False, tenant_id=tenant_id)
        for table, columns, rows in statements:
            await conn.execute(
                f"insert into app.{table} ({columns}) select {columns} "
                f"from jsonb_populate_recordset(null::app.{table}, $1::jsonb)",
                json_param(rows),
            )
        await conn.execute("commit")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run_sync_bench(settings: Any, items_count: int) -> list[tuple[str, float]]:
    import aiohttp

    await create_super_admin(settings, BENCH_EMAIL, BENCH_PASSWORD, tenant_slug="bench")
    results: list[tuple[str, float]] = []
    async with serve_locally(settings) as base, aiohttp.ClientSession(base) as http:
        login = await http.post(
            "/api/auth/login", json={"identifier": BENCH_EMAIL, "password": BENCH_PASSWORD}
        )
        token = (await login.json())["accessToken"]
        tenants = await (
            await http.get("/api/tenant/mine", headers={"authorization": f"Bearer {token}"})
        ).json()
        tenant_id = uuid.UUID(tenants[0]["id"])
        headers = {"authorization": f"Bearer {token}", "x-tenant-id": str(tenant_id)}
        # The first run once (it creates); the others three times each, reporting the median.
        runs = [
            ("first run (all created)", [sync_items(items_count)]),
            ("repeat (no change), median of 3", [sync_items(items_count)] * 3),
            (
                "every commerce changed, median of 3",
                [sync_items(items_count, tag=f" v{n}") for n in range(3)],
            ),
        ]
        for label, payloads in runs:
            times = []
            for items in payloads:
                started = time.perf_counter()
                response = await http.post("/api/commerces/sync", json={"items": items}, headers=headers)
                body = await response.json()
                times.append(time.perf_counter() - started)
                if response.status != 201:
                    raise RuntimeError(f"sync failed: {response.status} {body}")
            results.append((f"service: {label} {body}", statistics.median(times)))
    floor = await _floor(settings.database_url, tenant_id, sync_items(items_count))
    results.append(("floor: plain INSERT ... SELECT of the same rows", floor))
    return results


def print_sync_report(results: list[tuple[str, float]], items_count: int) -> None:
    print(f"commerce sync, {items_count} items x (2 addresses + 2 users + 1 contact), one HTTP call each")
    floor = results[-1][1]
    print(f"{'run':<92} {'seconds':>8} {'items/s':>9} {'floor/run':>9}")
    for label, seconds in results:
        print(f"{label:<92} {seconds:8.3f} {items_count / seconds:9.0f} {floor / seconds:9.2f}")
