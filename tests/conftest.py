"""Test fixtures: a real PostgreSQL (embedded unless TEST_DATABASE_URL names a superuser DSN; a local Citus
cluster, coordinator + 2 workers, with TEST_CITUS=1), a fresh database migrated as the owner, the service
connected as the application role, and two tenants."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from citus_mode import CITUS
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app import bootstrap
from app.asgi import create_app
from app.config import PROJECT_ROOT, Settings, load_settings
from app.embedded import ClusterDsns, bootstrap_cluster, start_embedded
from app.migrations import migrate

TEST_DB = os.environ.get("TEST_DB_NAME", "reten_test")
TEST_KEY_RING = "t1:" + "dGVzdC1vbmx5LWtleS1mb3ItcmV0ZW4tdGVzdHMtMzI="  # 32 bytes, tests only
PASSWORD = "correct-horse-battery"
SUPER_EMAIL = "root@reten.test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``citus_incompatible(reason)``: a strict xfail under TEST_CITUS=1 (a fixed test must drop the
    marker), nothing on plain PostgreSQL."""
    for item in items:
        marker = item.get_closest_marker("citus_incompatible")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else None)
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: citus_incompatible needs a reason")
        if CITUS:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"citus_incompatible: {reason}"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterDsns]:
    if CITUS:
        yield from _citus_cluster()
        return
    admin = os.environ.get("TEST_DATABASE_URL")
    server = None
    if not admin:
        server = start_embedded(Path(os.environ.get("DATA_DIR", PROJECT_ROOT / ".data")))
        admin = server.get_uri()
    dsns = asyncio.run(bootstrap_cluster(admin, TEST_DB, recreate=True))
    asyncio.run(migrate(dsns.owner))
    yield dsns
    del server


def _citus_cluster() -> Iterator[ClusterDsns]:
    """The local Citus cluster under DATA_DIR/citus (tarball: CITUS_EXTENSION), stopped at the end."""
    from app.citus import bootstrap_citus, citus_tarball, start_citus

    citus = start_citus(Path(os.environ.get("DATA_DIR", PROJECT_ROOT / ".data")), tarball=citus_tarball())
    try:
        dsns = asyncio.run(bootstrap_citus(citus, TEST_DB, recreate=True))
        asyncio.run(_few_shards(dsns.admin))
        asyncio.run(migrate(dsns.owner))
        yield dsns
    finally:
        citus.stop()


TEST_SHARD_COUNT = 4


async def _few_shards(admin_dsn: str) -> None:
    """Four shards per table instead of Citus's 32: two per worker still spread every table over both
    workers (so routing is tested), and the truncation between tests touches 8 times fewer shards."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"alter database {TEST_DB} set citus.shard_count = {TEST_SHARD_COUNT}")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings(cluster: ClusterDsns) -> Settings:
    return load_settings(
        {},
        reten_env="test",
        database_url=cluster.app,
        jwt_secret="test-secret-" + "x" * 40,
        password_hash_profile="cheapest",
        pool_min_size=1,
        pool_max_size=4,
        login_attempts_per_minute=10_000,
        key_failures_per_minute=100_000,  # the session's one app sees every test's unknown keys
        log_requests=False,
        pull_changes_settle_s=0.0,  # incremental pulls see a change at once (one test sets it back)
        credentials_keys=TEST_KEY_RING,
        dispatch_allow_http=True,  # the loopback receiver speaks plain http
        dispatch_test_allowlist=["127.0.0.0/8", "::1/128"],
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    yield create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as c:
        yield c


@pytest.fixture(scope="session")
async def owner_pool(cluster: ClusterDsns) -> AsyncIterator[asyncpg.Pool]:
    """The owner role: truncation between tests only; assertions use the application role."""
    pool = await asyncpg.create_pool(cluster.owner, min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def app_pool(cluster: ClusterDsns) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(cluster.app, min_size=1, max_size=4)
    yield pool
    await pool.close()


# Global catalogue tables seeded by migrations survive the per-test truncation.
KEEP_TABLES: frozenset[str] = frozenset(
    {"attribute_keys", "dispatch_providers", "dispatch_channel_definitions"}
)


@pytest.fixture(autouse=True)
async def _clean(owner_pool: asyncpg.Pool, app: Litestar) -> AsyncIterator[None]:
    """Every test starts from empty tables (emptied as the owner) and an empty key cache."""
    yield
    async with owner_pool.acquire() as conn:
        tables = await _emptied_tables(conn)
        if CITUS:
            # TRUNCATE of a distributed table rewrites every shard (about 0.7 s for the schema, per test);
            # DELETE of the few rows a test wrote takes milliseconds: tenant by tenant (row-level security
            # is forced on the owner too), children first, then the global tables.
            scoped = {r["table_name"] for r in await conn.fetch(TENANT_TABLES)}
            async with conn.transaction():
                await conn.execute("set local citus.multi_shard_modify_mode = 'sequential'")
                for tenant in [r["id"] for r in await conn.fetch("select id from app.tenants")]:
                    await conn.execute(f"set local app.tenant_id = '{tenant}'")
                    for table in (t for t in tables if t in scoped):
                        await conn.execute(f"delete from app.{table} where tenant_id = $1", tenant)
                for table in (t for t in tables if t not in scoped):
                    await conn.execute(f"delete from app.{table}")
        elif tables:
            await conn.execute("truncate " + ", ".join(f"app.{t}" for t in tables) + " cascade")
        # Kept catalogues: back to what the migrations seeded.
        await conn.execute("delete from app.dispatch_providers where code not in ('YOM', 'MOCK')")
        await conn.execute("update app.dispatch_providers set is_active = true where not is_active")
    app.state.services.api_key_cache.clear()


_EMPTIED: list[str] = []
TENANT_TABLES = """select c.relname as table_name from pg_catalog.pg_class c
                     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
                    where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'"""


async def _emptied_tables(conn: asyncpg.Connection) -> list[str]:
    """The app tables emptied after each test, each after every table that references it (read once)."""
    if not _EMPTIED:
        rows = await conn.fetch("select tablename from pg_catalog.pg_tables where schemaname = 'app'")
        tables = {r["tablename"] for r in rows} - KEEP_TABLES
        edges = await conn.fetch(
            """select c.conrelid::regclass::text as child, c.confrelid::regclass::text as parent
                 from pg_catalog.pg_constraint c
                where c.contype = 'f' and c.connamespace = 'app'::regnamespace
                  and c.conrelid <> c.confrelid"""
        )
        referencing: dict[str, set[str]] = {t: set() for t in tables}
        for e in edges:
            child, parent = e["child"].removeprefix("app."), e["parent"].removeprefix("app.")
            if child in tables and parent in tables:
                referencing[parent].add(child)
        while referencing:
            free = sorted(t for t, children in referencing.items() if not children & referencing.keys())
            assert free, f"foreign-key cycle among {sorted(referencing)}"
            _EMPTIED.extend(free)
            for t in free:
                del referencing[t]
    return _EMPTIED


@dataclass
class Actor:
    """A logged-in user (and the tenant it acts in)."""

    user_id: uuid.UUID
    email: str
    token: str
    tenant_id: uuid.UUID | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def headers(self, tenant_id: uuid.UUID | None = None) -> dict[str, str]:
        out = {"authorization": f"Bearer {self.token}"}
        tenant = tenant_id or self.tenant_id
        if tenant is not None:
            out["x-tenant-id"] = str(tenant)
        return out


@dataclass
class World:
    root: Actor  # SUPER_ADMIN
    admin_a: Actor  # ADMIN of tenant A
    admin_b: Actor  # ADMIN of tenant B
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID


async def login(client: AsyncTestClient[Any], email: str, password: str = PASSWORD) -> Actor:
    response = await client.post("/api/auth/login", json={"identifier": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return Actor(
        user_id=uuid.UUID(body["user"]["id"]),
        email=email,
        token=body["accessToken"],
        cookies={"refreshToken": response.cookies.get("refreshToken", "")},
    )


async def create_super_admin(settings: Settings, email: str = SUPER_EMAIL) -> None:
    await bootstrap.create_super_admin(settings, email, PASSWORD, tenant_slug=None)


async def setup_tenant(client: AsyncTestClient[Any], root: Actor, slug: str, admin_email: str) -> uuid.UUID:
    response = await client.post(
        "/api/tenant/setup",
        headers=root.headers(),
        json={
            "name": slug.title(),
            "slug": slug,
            "adminEmail": admin_email,
            "adminPassword": PASSWORD,
            "adminFirstName": "Admin",
            "adminLastName": slug,
        },
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


@pytest.fixture
async def world(client: AsyncTestClient[Any], settings: Settings) -> World:
    await create_super_admin(settings)
    root = await login(client, SUPER_EMAIL)
    tenant_a = await setup_tenant(client, root, "tenant-a", "admin@a.test")
    tenant_b = await setup_tenant(client, root, "tenant-b", "admin@b.test")
    admin_a = await login(client, "admin@a.test")
    admin_a.tenant_id = tenant_a
    admin_b = await login(client, "admin@b.test")
    admin_b.tenant_id = tenant_b
    return World(root=root, admin_a=admin_a, admin_b=admin_b, tenant_a=tenant_a, tenant_b=tenant_b)


async def add_user(client: AsyncTestClient[Any], manager: Actor, email: str, roles: list[str]) -> Actor:
    """Create a user in the manager's tenant through the API and log it in."""
    response = await client.post(
        "/api/user",
        headers=manager.headers(),
        json={"email": email, "password": PASSWORD, "firstName": "U", "roles": roles},
    )
    assert response.status_code == 201, response.text
    actor = await login(client, email)
    actor.tenant_id = manager.tenant_id
    return actor


def assert_error(response: Any, status: int) -> dict[str, Any]:
    """The documented error body, and nothing that looks like SQL or a trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["error"], str) and body["error"]
    text = response.text.lower()
    for leak in ("traceback", "select ", "insert into", "asyncpg", "app.users"):
        assert leak not in text, text
    return body
