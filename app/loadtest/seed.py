"""``reten loadtest seed``: tenants with an API key, a directory (commerces with people, operators, a
route) and tasks, written through the service's own functions and SQL on direct connections (no HTTP:
a 100k-task tenant takes seconds). The keys and ids go to a JSON file (mode 0600: it holds keys and the
load-test admin's password) that ``reten loadtest run`` reads."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from app.api_keys import service as api_keys
from app.api_keys.schemas import ApiKeyCreate
from app.auth.permissions import permissions_for
from app.auth.principal import Principal
from app.commerces import service as commerces
from app.commerces.schemas import CommerceSync
from app.config import Settings
from app.db import begin_tenant, init_connection, open_transaction
from app.loadtest import repo
from app.operators import service as operators
from app.operators.schemas import OperatorSync
from app.routes import service as routes
from app.routes.schemas import RouteCreate, RouteOperatorAssign
from app.state import Services
from app.tenants import service as tenants
from app.tenants.schemas import TenantSetup
from app.users import repo as users

__all__ = ("KEY_PERMISSIONS", "READY_SHARE", "seed", "task_id")

KEY_PERMISSIONS = ["VIEW_ACTIVITIES", "SUBMIT_ACTIVITY_RESULT", "CREATE_ACTIVITY"]
ADMIN_EMAIL = "loadtest@reten.local"
CHUNK = 20_000
READY_SHARE = 12 / 20  # tasks n with n % 20 < 12 are READY (sql/loadtest/loadtest.sql)


def task_id(tenant_id: uuid.UUID, n: int) -> uuid.UUID:
    """The id of seeded task ``n`` of a tenant (pgbench computes the same in SQL)."""
    import hashlib

    return uuid.UUID(hashlib.md5(f"{tenant_id}-{n}".encode()).hexdigest())  # noqa: S324 - an id


def _commerce_items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"LT-C{n:04d}",
            "name": f"Load test store {n}",
            "addresses": [
                {"source_ref": "a1", "street": "Main", "street_number": str(n), "is_primary": True}
            ],
            "users": [
                {"external_id": "owner", "name": "Olga Owner", "roles": ["OWNER"]},
                {"external_id": "rep", "name": "Rita Rep", "roles": ["COMMERCE_REP"]},
            ],
        }
        for n in range(count)
    ]


async def _tenant(
    conn: asyncpg.Connection, services: Services, n: int, tag: str, password: str
) -> tuple[Any, Any]:
    """One tenant with the load-test admin as its ADMIN; returns (tenant id, admin user id)."""
    await open_transaction(conn, readonly=False, tenant_id=None, identity=True)
    created = await tenants.setup(
        conn,
        services,
        TenantSetup(
            name=f"Load test {n}",
            slug=f"lt-{tag}-{n}",
            admin_email=ADMIN_EMAIL,
            admin_password=password,
            admin_first_name="Load",
            admin_last_name="Test",
        ),
    )
    await conn.execute("set local role reten_identity")
    admin = await users.get_by_email(conn, ADMIN_EMAIL)
    assert admin is not None
    await conn.execute("commit")
    return created.id, admin["id"]


async def _directory(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, admin_id: uuid.UUID, n_commerces: int, n_operators: int
) -> dict[str, Any]:
    tx = await begin_tenant(conn, tenant_id)
    admin = Principal(
        kind="user",
        user_id=admin_id,
        roles=("ADMIN",),
        permissions=permissions_for(("ADMIN",)),
        tenant_id=tenant_id,
    )
    key = await api_keys.create(tx, admin, ApiKeyCreate(name="loadtest", permissions=KEY_PERMISSIONS))
    await commerces.run_sync(tx, msgspec.convert({"items": _commerce_items(n_commerces)}, CommerceSync))
    ops = [
        {"external_id": f"LT-O{n:03d}", "type": "SALESMAN", "name": f"Operator {n}"}
        for n in range(n_operators)
    ]
    await operators.run_sync(tx, msgspec.convert({"items": ops}, OperatorSync))
    route = await routes.create(tx, RouteCreate(name="Load test route", code="LT-R1"))
    ids = await repo.seed_directory(tx)
    for operator_id in ids["operator_ids"]:
        await routes.assign(tx, route.id, RouteOperatorAssign(operator_id=operator_id))
    await conn.execute("commit")
    return {
        "key": key.plaintext_key,
        "route_id": str(route.id),
        "operator_ids": [str(i) for i in ids["operator_ids"]],
        "operator_external_ids": list(ids["operator_external_ids"]),
        "commerce_ids": [str(i) for i in ids["commerce_ids"]],
        "commerce_external_ids": list(ids["commerce_external_ids"]),
    }


async def _tasks(conn: asyncpg.Connection, tenant_id: uuid.UUID, world: dict[str, Any], count: int) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    for first in range(0, count, CHUNK):
        tx = await begin_tenant(conn, tenant_id)
        await conn.execute("set local statement_timeout = 0")  # bulk setup, not a request
        await repo.seed_tasks(
            tx,
            first=first,
            count=min(CHUNK, count - first),
            commerce_ids=[uuid.UUID(i) for i in world["commerce_ids"]],
            route_id=uuid.UUID(world["route_id"]),
            operator_ids=[uuid.UUID(i) for i in world["operator_ids"]],
            scheduled_from=start,
        )
        await conn.execute("commit")


async def seed(
    settings: Settings,
    *,
    tenants_count: int,
    activities: int,
    big_tenant_activities: int = 0,
    commerces_count: int = 50,
    operators_count: int = 5,
    out: Path,
    owner_dsn: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Seed and write ``out``. The first tenant gets ``big_tenant_activities`` tasks when that is larger
    (deep-page runs need one big tenant). ``owner_dsn``: run ANALYZE afterwards (the owner's right)."""
    assert settings.database_url is not None
    services = Services(settings)
    tag = secrets.token_hex(3)
    password = secrets.token_urlsafe(18)
    conn = await asyncpg.connect(settings.database_url)
    summary: dict[str, Any] = {
        "base_url": base_url,
        "admin": {"email": ADMIN_EMAIL, "password": password},
        "tenants": [],
    }
    try:
        await init_connection(conn)
        for n in range(tenants_count):
            tenant_id, admin_id = await _tenant(conn, services, n, tag, password)
            world = await _directory(conn, tenant_id, admin_id, commerces_count, operators_count)
            count = max(activities, big_tenant_activities) if n == 0 else activities
            await _tasks(conn, tenant_id, world, count)
            summary["tenants"].append(
                {"id": str(tenant_id), "slug": f"lt-{tag}-{n}", "tasks": count, **world}
            )
    finally:
        await conn.close()
    if owner_dsn:
        owner = await asyncpg.connect(owner_dsn)
        try:
            await owner.execute("analyze")
        finally:
            await owner.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(summary, f, indent=1)
    return summary
