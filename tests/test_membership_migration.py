"""Migration 0007 (roles per membership): a database at 0006 with users in several tenants migrates to
per-membership roles with the same effective permissions per tenant as before, for JWT requests and for
API keys (property test over random role and membership sets).

Each example copies a database migrated to 0006 (CREATE DATABASE ... TEMPLATE), seeds it as the
superuser (setup only), reads every (user, tenant) standing through the 0006 lookups as the application
role, applies the remaining migrations as the owner, and reads it again through today's lookups."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.permissions import PERMISSIONS, ROLES, permissions_for, tenant_roles
from app.embedded import ClusterDsns, bootstrap_cluster, dsn_for
from app.migrations import MIGRATIONS_DIR, discover, migrate

TEMPLATE = "reten_m0006"
SCRATCH = "reten_m0006_scratch"
Standing = frozenset[str] | None  # None: the request is refused


@pytest.fixture(scope="module")
def at_0006(cluster: ClusterDsns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterDsns]:
    directory = tmp_path_factory.mktemp("migrations-0006")
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0007":
            shutil.copy(path, directory / path.name)
    dsns = asyncio.run(bootstrap_cluster(cluster.admin, TEMPLATE, recreate=True))
    asyncio.run(migrate(dsns.owner, directory))
    yield dsns
    asyncio.run(_drop(cluster.admin, TEMPLATE))


async def _drop(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    tenants = [
        {"id": uuid.uuid4(), "active": draw(st.booleans()) or draw(st.booleans())}
        for _ in range(draw(st.integers(1, 3)))
    ]
    users = []
    for n in range(draw(st.integers(1, 5))):
        member_of = draw(st.lists(st.sampled_from(tenants), unique_by=lambda t: t["id"], max_size=3))
        keys = [
            {
                "tenant": t["id"],
                "permissions": sorted(
                    draw(st.sets(st.sampled_from(sorted(PERMISSIONS)), min_size=1, max_size=4))
                ),
                "revoked": draw(st.booleans()) and draw(st.booleans()),
            }
            for t in member_of
            if draw(st.booleans())
        ]
        users.append(
            {
                "id": uuid.uuid4(),
                "email": f"u{n}@m.test",
                "roles": sorted(draw(st.sets(st.sampled_from(ROLES), max_size=3))),
                "active": draw(st.booleans()) or draw(st.booleans()),
                "member_of": [t["id"] for t in member_of],
                "keys": keys,
            }
        )
    return {"tenants": tenants, "users": users}


async def _seed(admin: asyncpg.Connection, world: dict[str, Any]) -> list[bytes]:
    """As the superuser (setup only): the 0006 shape, roles on the user row. Returns the key digests."""
    for t in world["tenants"]:
        await admin.execute(
            "insert into app.tenants (id, name, slug, is_active) values ($1, 't', $2, $3)",
            t["id"],
            f"t-{t['id'].hex[:12]}",
            t["active"],
        )
    digests = []
    for u in world["users"]:
        await admin.execute(
            "insert into app.users (id, email, password_hash, roles, is_active) values ($1, $2, 'x', $3, $4)",
            u["id"],
            u["email"],
            u["roles"],
            u["active"],
        )
        for tenant_id in u["member_of"]:
            await admin.execute(
                "insert into app.tenant_memberships (tenant_id, user_id) values ($1, $2)", tenant_id, u["id"]
            )
        for k in u["keys"]:
            digest = hashlib.sha256(uuid.uuid4().bytes).digest()
            digests.append(digest)
            await admin.execute(
                "insert into app.api_keys (tenant_id, user_id, name, key_prefix, key_digest, permissions,"
                " revoked_at) values ($1, $2, 'k', 'rtn_sk_00000000', $3, $4,"
                " case when $5 then now() end)",
                k["tenant"],
                u["id"],
                digest,
                k["permissions"],
                k["revoked"],
            )
    return digests


def _jwt_standing(record: Any, roles: tuple[str, ...], super_admin: bool) -> Standing:
    """What the middleware makes of a user_principal row (tenant named)."""
    if record is None or not record["user_active"]:
        return None
    if not record["tenant_active"] or not (record["is_member"] or super_admin):
        return None
    return permissions_for(roles)


def _key_standing(record: Any, roles: tuple[str, ...], super_admin: bool) -> Standing:
    """What the middleware makes of an api_key_principal row. A key left with no permission is refused
    (0006 let it through to answer 403 on every route; 0007's middleware answers 401): both are None."""
    if (
        record is None
        or record["revoked_at"] is not None
        or not record["tenant_active"]
        or not record["user_active"]
        or not (record["creator_is_member"] or super_admin)
    ):
        return None
    permissions = frozenset(record["permissions"]) & permissions_for(roles)
    return permissions or None


async def _standings(
    conn: asyncpg.Connection, world: dict[str, Any], digests: list[bytes], *, new: bool
) -> Any:
    jwt = {}
    for u in world["users"]:
        for t in world["tenants"]:
            r = await conn.fetchrow("select * from app.user_principal($1, $2)", u["id"], t["id"])
            if new:
                roles, super_admin = tenant_roles(r["roles"], r["is_super_admin"]), r["is_super_admin"]
            else:
                roles, super_admin = tuple(r["roles"]), "SUPER_ADMIN" in r["roles"]
            jwt[(u["id"], t["id"])] = _jwt_standing(r, roles, super_admin)
    keys = {}
    for digest in digests:
        r = await conn.fetchrow("select * from app.api_key_principal($1)", digest)
        if new:
            super_admin = r["creator_is_super_admin"]
            roles = tenant_roles(r["creator_roles"], super_admin)
        else:
            roles, super_admin = tuple(r["creator_roles"]), "SUPER_ADMIN" in r["creator_roles"]
        keys[digest] = _key_standing(r, roles, super_admin)
    return jwt, keys


async def _roundtrip(at_0006: ClusterDsns, world: dict[str, Any]) -> tuple[Any, Any]:
    """(standings at 0006, standings after the remaining migrations) of one seeded world."""
    admin = await asyncpg.connect(dsn_for(at_0006.admin, database="postgres"))
    try:
        await admin.execute(f'drop database if exists "{SCRATCH}" with (force)')
        await admin.execute(f'create database "{SCRATCH}" template "{TEMPLATE}" owner reten_owner')
        await admin.execute(f'grant connect on database "{SCRATCH}" to reten_app')
    finally:
        await admin.close()
    seeder = await asyncpg.connect(dsn_for(at_0006.admin, database=SCRATCH))
    try:
        digests = await _seed(seeder, world)
    finally:
        await seeder.close()
    app_conn = await asyncpg.connect(dsn_for(at_0006.app, database=SCRATCH))
    try:
        before = await _standings(app_conn, world, digests, new=False)
    finally:
        await app_conn.close()
    later = [path.name for _, path in discover() if path.name >= "0007"]
    assert await migrate(dsn_for(at_0006.owner, database=SCRATCH)) == later
    app_conn = await asyncpg.connect(dsn_for(at_0006.app, database=SCRATCH))
    try:
        after = await _standings(app_conn, world, digests, new=True)
        old_column = await app_conn.fetchval(
            "select count(*) from information_schema.columns"
            " where table_schema = 'app' and table_name = 'users' and column_name = 'roles'"
        )
    finally:
        await app_conn.close()
    assert old_column == 0  # the global column is gone: nothing can read the old meaning
    return before, after


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
async def test_migration_keeps_every_effective_permission(
    at_0006: ClusterDsns, world: dict[str, Any]
) -> None:
    before, after = await _roundtrip(at_0006, world)
    assert after == before


async def test_migration_of_a_known_world(at_0006: ClusterDsns) -> None:
    """Not vacuous: a shared FDE+VIEWER, a SUPER_ADMIN outside every tenant, a key of each."""
    a, b = {"id": uuid.uuid4(), "active": True}, {"id": uuid.uuid4(), "active": True}
    shared = {
        "id": uuid.uuid4(),
        "email": "shared@m.test",
        "roles": ["FDE", "VIEWER"],
        "active": True,
        "member_of": [a["id"], b["id"]],
        "keys": [
            {"tenant": a["id"], "permissions": ["CANCEL_ACTIVITY", "CREATE_ACTIVITY"], "revoked": False}
        ],
    }
    root = {
        "id": uuid.uuid4(),
        "email": "root@m.test",
        "roles": ["SUPER_ADMIN"],
        "active": True,
        "member_of": [],
        "keys": [],
    }
    before, after = await _roundtrip(at_0006, {"tenants": [a, b], "users": [shared, root]})
    assert after == before
    jwt, keys = after
    assert jwt[(shared["id"], a["id"])] == jwt[(shared["id"], b["id"])] == permissions_for(("FDE",))
    assert jwt[(root["id"], a["id"])] == permissions_for(("SUPER_ADMIN",))
    assert list(keys.values()) == [frozenset({"CREATE_ACTIVITY"})]
