"""Row-level security at the SQL level, as the application role (reten_app): two tenants seeded by the
owner (inside a transaction with the tenant context set, since FORCE RLS binds the owner too), then every
read and write is checked from one tenant against the other, with and without a context."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from citus_mode import CITUS

from app.embedded import ClusterDsns

# Every table of schema app with a tenant_id column must be listed here (test_every_tenant_table_is_covered).
TENANT_TABLES = (
    "tenant_memberships",
    "api_keys",
    "commerces",
    "commerce_addresses",
    "commerce_users",
    "commerce_user_roles",
    "commerce_user_contacts",
    "operators",
    "routes",
    "route_operators",
    "task_result_types",
    "target_resolution_configs",
    "target_resolution_criteria",
    "attribute_policies",
    "activities",
    "activity_status_events",
    "activity_target_users",
    "activity_attributes",
    "activity_results",
    "dispatch_configs",
)
RLS_VIOLATION = "row-level security"
UNLINKED_BEFORE_DELETE = {"operators": "operator_id", "routes": "route_id"}


def refused_without_tenant() -> Any:
    """An insert with no tenant context is refused: by the policy on PostgreSQL; on Citus earlier, by the
    router, which cannot place a row whose distribution key is null."""
    if CITUS:
        return pytest.raises(asyncpg.NullValueNotAllowedError, match="NULL in the partition column")
    return pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION)


def refused_tenant_change() -> Any:
    """Moving a row to another tenant is refused: by the policy's WITH CHECK on PostgreSQL; on Citus by
    Citus itself, which never changes a row's distribution key."""
    if CITUS:
        return pytest.raises(asyncpg.FeatureNotSupportedError, match="partition value")
    return pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION)


@dataclass(frozen=True)
class Seed:
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID
    user_a: uuid.UUID
    user_b: uuid.UUID
    spare_user: uuid.UUID  # a member of no tenant yet
    # Per tenant: the ids of its seeded directory rows (commerce, person, route, operators).
    directory: dict[uuid.UUID, dict[str, uuid.UUID]] = field(default_factory=dict)
    # Rows per table each tenant starts with (both tenants are seeded alike).
    counts: dict[str, int] = field(default_factory=dict)

    def user_of(self, tenant: uuid.UUID) -> uuid.UUID:
        return self.user_a if tenant == self.tenant_a else self.user_b


def key_digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def new_row(table: str, seed: Seed, tenant: uuid.UUID) -> dict[str, Any]:
    """Columns of a fresh, valid row for ``table`` (without tenant_id) that ``tenant`` could own."""
    if table == "tenant_memberships":
        return {"user_id": seed.spare_user}
    if table == "api_keys":
        return {
            "user_id": seed.user_of(tenant),
            "name": "probe",
            "key_prefix": "rtn_probe_00000",
            "key_digest": key_digest(f"probe-{uuid.uuid4()}"),
            "permissions": ["read"],
        }
    d = seed.directory[tenant]
    probe = f"probe-{uuid.uuid4()}"
    rows: dict[str, dict[str, Any]] = {
        "commerces": {"external_id": probe, "name": "Probe"},
        "commerce_addresses": {"commerce_id": d["commerce"], "source": "RETEN"},
        "commerce_users": {"commerce_id": d["commerce"]},
        "commerce_user_roles": {"commerce_user_id": d["person"], "role": "OTHER"},
        "commerce_user_contacts": {
            "commerce_user_id": d["person"],
            "contact_type": "OTHER",
            "value": probe,
            "source": "RETEN",
        },
        "operators": {"type": "SALESMAN", "first_name": "Probe"},
        "routes": {"name": "Probe"},
        "route_operators": {"route_id": d["route"], "operator_id": d["spare_operator"]},
        "task_result_types": {"code": probe[:60], "label": "Probe"},
        "target_resolution_configs": {"resolution_strategy": "MANUAL", "is_active": False},
        "target_resolution_criteria": {"config_id": d["config"], "criteria_type": "ROLE_MATCH"},
        "attribute_policies": {
            "attribute_key_id": d["promotions_key"],
            "strategy": "UPFRONT",
            "resolver_type": "INTERNAL_SERVICE",
        },
        "activities": {
            "type": "MESSAGE",
            "channel": "SMS",
            "status": "READY",
            "reason": "probe",
            "idempotency_key": probe,
            "scheduled_at": datetime.now(UTC),
            "commerce_id": d["commerce"],
        },
        "activity_status_events": {
            "activity_id": d["activity"],
            "event_type": "CREATED",
            "to_status": "READY",
        },
        "activity_target_users": {
            "activity_id": d["activity"],
            "resolution_status": "PENDING",
            "resolution_strategy": "MANUAL",
        },
        "activity_attributes": {
            "activity_id": d["activity"],
            "attribute_key_id": d["promotions_key"],
            "strategy": "UPFRONT",
            "resolver_type": "INTERNAL_SERVICE",
            "resolution_status": "PENDING",
        },
        "activity_results": {
            "commerce_id": d["commerce"],
            "source": "STANDALONE",
            "status": "PENDING",
            "occurred_at": datetime.now(UTC),
            "result": "probe",
        },
        "dispatch_configs": {
            "dispatch_provider_id": d["mock_provider"],
            "channel": "PUSH",
            "is_active": False,
        },
    }
    if table not in rows:
        raise AssertionError(f"no row factory for {table}")
    return rows[table]


async def seed_directory(conn: asyncpg.Connection, tenant: uuid.UUID) -> dict[str, uuid.UUID]:
    """One row in every directory table for the tenant in context (plus a spare operator to link)."""
    d = {k: uuid.uuid4() for k in ("commerce", "person", "route", "operator", "spare_operator")}
    await conn.execute(
        "insert into app.commerces (id, external_id, name) values ($1, 'c-1', 'C')", d["commerce"]
    )
    await conn.execute(
        "insert into app.commerce_addresses (commerce_id, source, is_primary) values ($1, 'RETEN', true)",
        d["commerce"],
    )
    await conn.execute(
        "insert into app.commerce_users (id, commerce_id) values ($1, $2)", d["person"], d["commerce"]
    )
    await conn.execute(
        "insert into app.commerce_user_roles (commerce_user_id, role) values ($1, 'OWNER')", d["person"]
    )
    await conn.execute(
        "insert into app.commerce_user_contacts (commerce_user_id, contact_type, value, source)"
        " values ($1, 'PHONE', '+56900000001', 'RETEN')",
        d["person"],
    )
    await conn.executemany(
        "insert into app.operators (id, type, first_name) values ($1, 'SALESMAN', 'Op')",
        [(d["operator"],), (d["spare_operator"],)],
    )
    await conn.execute("insert into app.routes (id, name) values ($1, 'R')", d["route"])
    await conn.execute(
        "insert into app.route_operators (route_id, operator_id) values ($1, $2)", d["route"], d["operator"]
    )
    await seed_activities(conn, d)
    return d


async def seed_activities(conn: asyncpg.Connection, d: dict[str, uuid.UUID]) -> None:
    """One row in every activity table (an activity with its event, target, attribute and result)."""
    d["activity"], d["config"] = uuid.uuid4(), uuid.uuid4()
    d["commerce_info_key"], d["promotions_key"] = [
        r["id"] for r in await conn.fetch("select id from app.attribute_keys order by key")
    ]
    await conn.execute("insert into app.task_result_types (code, label) values ('DONE', 'Done')")
    d["mock_provider"] = await conn.fetchval("select id from app.dispatch_providers where code = 'MOCK'")
    await conn.execute(
        "insert into app.dispatch_configs (dispatch_provider_id, channel) values ($1, 'SMS')",
        d["mock_provider"],
    )
    await conn.execute(
        "insert into app.target_resolution_configs (id, resolution_strategy) values ($1, 'ON_CREATION')",
        d["config"],
    )
    await conn.execute(
        "insert into app.target_resolution_criteria (config_id, criteria_type) values ($1, 'ROLE_MATCH')",
        d["config"],
    )
    await conn.execute(
        "insert into app.attribute_policies (attribute_key_id, strategy, resolver_type)"
        " values ($1, 'UPFRONT', 'INTERNAL_SERVICE')",
        d["commerce_info_key"],
    )
    await conn.execute(
        "insert into app.activities (id, type, channel, status, reason, idempotency_key, scheduled_at,"
        " commerce_id, route_id, operator_id) values ($1, 'TASK', 'SALESMAN', 'COMPLETED', 'r', 'k-1', now(),"
        " $2, $3, $4)",
        d["activity"],
        d["commerce"],
        d["route"],
        d["operator"],
    )
    await conn.execute(
        "insert into app.activity_status_events (activity_id, event_type, to_status)"
        " values ($1, 'CREATED', 'READY')",
        d["activity"],
    )
    await conn.execute(
        "insert into app.activity_target_users (activity_id, commerce_user_id, resolution_status,"
        " resolution_strategy, lock_reason) values ($1, $2, 'LOCKED', 'ON_CREATION', 'CRITERIA_MATCH')",
        d["activity"],
        d["person"],
    )
    await conn.execute(
        "insert into app.activity_attributes (activity_id, attribute_key_id, strategy, resolver_type, value,"
        " resolution_status) values ($1, $2, 'UPFRONT', 'INTERNAL_SERVICE', '{}', 'RESOLVED')",
        d["activity"],
        d["commerce_info_key"],
    )
    await conn.execute(
        "insert into app.activity_results (activity_id, commerce_id, source, status, occurred_at, result)"
        " values ($1, $2, 'RETEN_ACTIVITY', 'COMPLETED', now(), 'DONE')",
        d["activity"],
        d["commerce"],
    )


def insert_sql(table: str, columns: list[str]) -> str:
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"insert into app.{table} ({', '.join(columns)}) values ({placeholders}) returning tenant_id"


async def set_tenant(conn: asyncpg.Connection, tenant: uuid.UUID) -> None:
    await conn.execute(f"set local app.tenant_id = '{tenant}'")


@pytest.fixture
async def seed(owner_pool: asyncpg.Pool) -> Seed:
    s = Seed(*(uuid.uuid4() for _ in range(5)))
    async with owner_pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "insert into app.tenants (id, name, slug) values ($1, $2, $3)",
            [(s.tenant_a, "Tenant A", "rls-a"), (s.tenant_b, "Tenant B", "rls-b")],
        )
        await conn.executemany(
            "insert into app.users (id, email, password_hash) values ($1, $2, 'x')",
            [(s.user_a, "a@rls.test"), (s.user_b, "b@rls.test"), (s.spare_user, "spare@rls.test")],
        )
        for tenant, user, label in ((s.tenant_a, s.user_a, "a"), (s.tenant_b, s.user_b, "b")):
            await set_tenant(conn, tenant)
            await conn.execute("insert into app.tenant_memberships (user_id) values ($1)", user)
            await conn.execute(
                "insert into app.api_keys (user_id, name, key_prefix, key_digest, permissions)"
                " values ($1, $2, $3, $4, $5)",
                user,
                f"key {label}",
                f"rtn_{label}_000000000",
                key_digest(f"key-{label}"),
                ["read", "write"],
            )
            s.directory[tenant] = await seed_directory(conn, tenant)
        # The owner is bound by FORCE RLS too: each tenant's rows are visible only in its context.
        for table in TENANT_TABLES:
            await set_tenant(conn, s.tenant_a)
            s.counts[table] = await conn.fetchval(f"select count(*) from app.{table}")
            await set_tenant(conn, s.tenant_b)
            assert await conn.fetchval(f"select count(*) from app.{table}") == s.counts[table] >= 1
    return s


@pytest.fixture
async def conn(app_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with app_pool.acquire() as c:
        assert await c.fetchval("select current_user") == "reten_app"
        yield c


async def count_as(conn: asyncpg.Connection, table: str, tenant: uuid.UUID) -> int:
    async with conn.transaction():
        await set_tenant(conn, tenant)
        return await conn.fetchval(f"select count(*) from app.{table}")


# ---------------------------------------------------------------------------------------------------
async def test_every_tenant_table_is_covered(conn: asyncpg.Connection) -> None:
    found = await conn.fetch(
        """
        select c.relname from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'app' and c.relkind in ('r', 'p')
           and exists (select 1 from pg_catalog.pg_attribute a
                        where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
        """
    )
    assert {r["relname"] for r in found} == set(TENANT_TABLES), "add the new tenant table to TENANT_TABLES"


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_select_sees_only_own_tenant(conn: asyncpg.Connection, seed: Seed, table: str) -> None:
    for mine, other in ((seed.tenant_a, seed.tenant_b), (seed.tenant_b, seed.tenant_a)):
        async with conn.transaction():
            await set_tenant(conn, mine)
            tenants = [r["tenant_id"] for r in await conn.fetch(f"select tenant_id from app.{table}")]
            assert tenants == [mine] * seed.counts[table]
            assert await conn.fetchval(f"select count(*) from app.{table} where tenant_id = $1", other) == 0


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_update_and_delete_of_other_tenant_affect_nothing(
    conn: asyncpg.Connection, seed: Seed, table: str
) -> None:
    async with conn.transaction():
        await set_tenant(conn, seed.tenant_a)
        updated = await conn.fetch(
            f"update app.{table} set tenant_id = tenant_id where tenant_id = $1 returning tenant_id",
            seed.tenant_b,
        )
        assert updated == []
        assert (
            await conn.fetch(
                f"delete from app.{table} where tenant_id = $1 returning tenant_id", seed.tenant_b
            )
            == []
        )
        # Unqualified statements reach only A's rows. Routes and operators are only ever deactivated by
        # the service (their activities' references are plain foreign keys: migrations/0008): unlink first.
        if column := UNLINKED_BEFORE_DELETE.get(table):
            await conn.execute(f"update app.activities set {column} = null where {column} is not null")
        deleted = [r["tenant_id"] for r in await conn.fetch(f"delete from app.{table} returning tenant_id")]
        assert deleted == [seed.tenant_a] * seed.counts[table]
    assert await count_as(conn, table, seed.tenant_b) == seed.counts[table]
    assert await count_as(conn, table, seed.tenant_a) == 0


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_update_cannot_move_a_row_to_another_tenant(
    conn: asyncpg.Connection, seed: Seed, table: str
) -> None:
    with refused_tenant_change():
        async with conn.transaction():
            await set_tenant(conn, seed.tenant_a)
            await conn.execute(f"update app.{table} set tenant_id = $1", seed.tenant_b)
    assert await count_as(conn, table, seed.tenant_a) == seed.counts[table]
    assert await count_as(conn, table, seed.tenant_b) == seed.counts[table]


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_insert_for_other_tenant_is_refused(conn: asyncpg.Connection, seed: Seed, table: str) -> None:
    row = {"tenant_id": seed.tenant_b, **new_row(table, seed, seed.tenant_b)}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION) as caught:
        async with conn.transaction():
            await set_tenant(conn, seed.tenant_a)
            await conn.execute(insert_sql(table, list(row)), *row.values())
    assert caught.value.sqlstate == "42501"
    assert await count_as(conn, table, seed.tenant_b) == seed.counts[table]


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_insert_defaults_to_current_tenant(conn: asyncpg.Connection, seed: Seed, table: str) -> None:
    row = new_row(table, seed, seed.tenant_a)
    async with conn.transaction():
        await set_tenant(conn, seed.tenant_a)
        assert await conn.fetchval(insert_sql(table, list(row)), *row.values()) == seed.tenant_a
    assert await count_as(conn, table, seed.tenant_a) == seed.counts[table] + 1
    assert await count_as(conn, table, seed.tenant_b) == seed.counts[table]


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_no_context_sees_nothing_and_writes_nothing(
    conn: asyncpg.Connection, seed: Seed, table: str
) -> None:
    async with conn.transaction():
        assert await conn.fetchval("select app.current_tenant_id()") is None
        assert await conn.fetchval(f"select count(*) from app.{table}") == 0
        assert await conn.fetch(f"update app.{table} set tenant_id = tenant_id returning tenant_id") == []
        assert await conn.fetch(f"delete from app.{table} returning tenant_id") == []
    # Outside an explicit transaction too (autocommit statement).
    assert await conn.fetchval(f"select count(*) from app.{table}") == 0
    row = new_row(table, seed, seed.tenant_a)
    with refused_without_tenant():
        async with conn.transaction():
            await conn.execute(insert_sql(table, list(row)), *row.values())
    explicit = {"tenant_id": seed.tenant_a, **new_row(table, seed, seed.tenant_a)}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION):
        async with conn.transaction():
            await conn.execute(insert_sql(table, list(explicit)), *explicit.values())
    assert await count_as(conn, table, seed.tenant_a) == seed.counts[table]


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_empty_or_garbage_context_fails_closed(
    conn: asyncpg.Connection, seed: Seed, table: str
) -> None:
    async with conn.transaction():
        await conn.execute("set local app.tenant_id = ''")
        assert await conn.fetchval(f"select count(*) from app.{table}") == 0
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        async with conn.transaction():
            await conn.execute("set local app.tenant_id = 'not-a-uuid'")
            await conn.fetchval(f"select count(*) from app.{table}")


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_context_ends_with_the_transaction(conn: asyncpg.Connection, seed: Seed, table: str) -> None:
    async with conn.transaction():
        await set_tenant(conn, seed.tenant_a)
        assert await conn.fetchval(f"select count(*) from app.{table}") == seed.counts[table]
    assert await conn.fetchval("select current_setting('app.tenant_id', true)") in ("", None)
    async with conn.transaction():
        assert await conn.fetchval(f"select count(*) from app.{table}") == 0
    # A rolled-back transaction leaves nothing behind either.
    with pytest.raises(ZeroDivisionError):
        async with conn.transaction():
            await set_tenant(conn, seed.tenant_b)
            raise ZeroDivisionError
    assert await conn.fetchval("select current_setting('app.tenant_id', true)") in ("", None)
    assert await conn.fetchval(f"select count(*) from app.{table}") == 0


async def test_pooled_connection_reacquired_has_no_context(cluster: ClusterDsns, seed: Seed) -> None:
    pool = await asyncpg.create_pool(cluster.app, min_size=1, max_size=1)
    try:
        async with pool.acquire() as c:
            pid = c.get_server_pid()
            async with c.transaction():
                await set_tenant(c, seed.tenant_a)
                assert await c.fetchval("select count(*) from app.api_keys") == 1
        async with pool.acquire() as c:
            assert c.get_server_pid() == pid  # the very same backend
            assert await c.fetchval("select current_setting('app.tenant_id', true)") in ("", None)
            for table in TENANT_TABLES:
                assert await c.fetchval(f"select count(*) from app.{table}") == 0
    finally:
        await pool.close()


async def test_app_role_cannot_turn_rls_off(conn: asyncpg.Connection, seed: Seed) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("alter table app.api_keys disable row level security")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("alter table app.api_keys no force row level security")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("drop policy tenant_isolation on app.api_keys")
    # row_security = off makes a filtered query an error for a non-bypassing role, never a bypass.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with conn.transaction():
            await set_tenant(conn, seed.tenant_a)
            await conn.execute("set local row_security = off")
            await conn.fetch("select * from app.api_keys")


async def test_identity_role_is_per_transaction(conn: asyncpg.Connection, seed: Seed) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.fetch("select id from app.users")
    for table in ("app.tenants", "app.refresh_tokens"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"select 1 from {table}")
    async with conn.transaction():
        await conn.execute("set local role reten_identity")
        assert await conn.fetchval("select current_user") == "reten_identity"
        ids = {r["id"] for r in await conn.fetch("select id from app.users")}
        assert {seed.user_a, seed.user_b, seed.spare_user} <= ids
        # Still under RLS on the tenant tables it maintains, and no grant at all on API keys.
        assert await conn.fetchval("select count(*) from app.tenant_memberships") == 0
    assert await conn.fetchval("select current_user") == "reten_app"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.fetch("select id from app.users")


@pytest.mark.parametrize("role", ["reten_auth", "reten_owner"])
async def test_app_role_cannot_become_privileged_roles(conn: asyncpg.Connection, role: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(f"set role {role}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with conn.transaction():
            await conn.execute(f"set local role {role}")
    assert await conn.fetchval("select current_user") == "reten_app"


async def test_api_key_principal_finds_keys_across_tenants(conn: asyncpg.Connection, seed: Seed) -> None:
    for label, tenant, user in (("a", seed.tenant_a, seed.user_a), ("b", seed.tenant_b, seed.user_b)):
        rows = await conn.fetch("select * from app.api_key_principal($1)", key_digest(f"key-{label}"))
        assert len(rows) == 1
        row = rows[0]
        assert (row["tenant_id"], row["user_id"]) == (tenant, user)
        assert row["permissions"] == ["read", "write"]
        assert row["tenant_active"] and row["user_active"] and row["creator_is_member"]
    # Even from inside the other tenant's context, the digest decides the tenant.
    async with conn.transaction():
        await set_tenant(conn, seed.tenant_a)
        row = await conn.fetchrow("select * from app.api_key_principal($1)", key_digest("key-b"))
        assert row is not None and row["tenant_id"] == seed.tenant_b
        assert (
            await conn.fetchval("select count(*) from app.api_keys where tenant_id = $1", seed.tenant_b) == 0
        )
    assert await conn.fetch("select * from app.api_key_principal($1)", key_digest("unknown")) == []
    # The lookup touched last_used_at on the keys it found.
    async with conn.transaction():
        await set_tenant(conn, seed.tenant_b)
        assert await conn.fetchval("select last_used_at is not null from app.api_keys") is True


async def test_user_lookups_stay_within_membership(conn: asyncpg.Connection, seed: Seed) -> None:
    tenants = await conn.fetch("select id from app.user_tenants($1)", seed.user_a)
    assert [r["id"] for r in tenants] == [seed.tenant_a]
    assert await conn.fetch("select id from app.user_tenants($1)", seed.spare_user) == []
    mine = await conn.fetchrow("select * from app.user_principal($1, $2)", seed.user_a, seed.tenant_a)
    other = await conn.fetchrow("select * from app.user_principal($1, $2)", seed.user_a, seed.tenant_b)
    assert mine is not None and mine["is_member"] is True
    assert other is not None and other["is_member"] is False
