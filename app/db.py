"""The database: pool lifespan, role self-check, the SQL namespaces, the migration runner, and the one
yield-dependency that owns a request's connection, transaction and tenant context."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosql
import asyncpg
from litestar import Litestar, Request

from app.config import PROJECT_ROOT, Settings
from app.errors import AppError, NotFound, ServiceUnavailable
from app.structs import Page, Pagination, json_param

T = TypeVar("T")

__all__ = (
    "IDENTITY_ROLE",
    "Connection",
    "begin_statement",
    "db_lifespan",
    "fetch_one",
    "json_param",
    "leave_identity_role",
    "migrate",
    "paginate",
    "provide_db",
    "queries",
    "tenant_lock",
    "tenant_transaction",
    "use_tenant",
)

log = logging.getLogger("reten.db")

SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
queries: Any = aiosql.from_path(SQL_DIR, "asyncpg")

Connection = asyncpg.Connection
IDENTITY_ROLE = "reten_identity"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# ---------------------------------------------------------------------------------------------------
# Tenant context: rule 3 of ARCHITECTURE.md. SET takes no bind parameters, so the value is rendered, and
# only ever from a uuid.UUID (canonical hex and dashes: nothing can be injected). SET LOCAL, never
# set_config(): Citus propagates SET LOCAL to its workers, not a function call.
# ---------------------------------------------------------------------------------------------------
def _set_tenant(tenant_id: uuid.UUID) -> str:
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a uuid.UUID")
    return f"set local app.tenant_id = '{tenant_id}'"


# Generic plans for statements written for them (the integration pull): planned once per connection, not
# per request. A generic plan cannot see which optional filters are null, and estimates each
# `p is null or ...` filter as selective, so it would expect a handful of rows and sort them (bitmap scan,
# then sort) where the page is the first rows of an index read in order, and would scan tiny tables per
# joined row. Without bitmap scans, sorts and sequential scans to choose, it reads the driving index in
# order and stops at the LIMIT, whatever the filters (shown per filter by tests/integration/test_plans.py).
GENERIC_PLANS = (
    "set local plan_cache_mode = force_generic_plan",
    "set local enable_bitmapscan = off",
    "set local enable_sort = off",
    "set local enable_seqscan = off",
)


def begin_statement(
    *, readonly: bool, tenant_id: uuid.UUID | None, identity: bool = False, generic_plans: bool = False
) -> str:
    """One simple-protocol round trip: BEGIN [READ ONLY]; SET LOCAL app.tenant_id; [SET LOCAL ROLE];
    [SET LOCAL plan_cache_mode: generic plans, never re-planned per execution]."""
    parts = ["begin isolation level read committed read only" if readonly else "begin"]
    if tenant_id is not None:
        parts.append(_set_tenant(tenant_id))
    if identity:
        parts.append(f"set local role {IDENTITY_ROLE}")
    if generic_plans:
        parts.extend(GENERIC_PLANS)
    return "; ".join(parts)


async def use_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    """Switch the transaction's tenant context (tenant setup, which creates the tenant it then seeds)."""
    await conn.execute(_set_tenant(tenant_id))


async def leave_identity_role(conn: asyncpg.Connection) -> None:
    """Back to the service role for the rest of the transaction (after identity work, before seeding
    tenant tables, which reten_identity has no grants on)."""
    await conn.execute("reset role")


async def paginate(
    conn: asyncpg.Connection,
    page: Pagination,
    rows: Callable[..., AsyncIterator[Any]],
    count: Callable[..., Awaitable[int]],
    convert: Callable[[Any], T],
    *,
    sort: str = "created_at",
    **params: Any,
) -> Page[T]:
    """One page of a list query ordered by (``sort``, id): by offset with a count, or after the keyset
    cursor without one. ``rows`` takes ``after_<sort>, after_id, limit, offset`` besides ``params``."""
    after = page.after or (None, None)
    found = [
        r
        async for r in rows(
            conn,
            **{f"after_{sort}": after[0]},
            after_id=after[1],
            limit=page.fetch if page.keyset else page.limit,
            offset=0 if page.keyset else page.offset,
            **params,
        )
    ]
    items = [convert(r) for r in found]
    if page.keyset:
        return page.wrap_keyset(items, [(r[sort], r["id"]) for r in found])
    return page.wrap(items, await count(conn, **params))


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant_id: uuid.UUID, timeout_s: float
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in one tenant's context outside a request (the dispatcher, and manual dispatch,
    whose provider call must happen between two transactions, never inside one): acquire (bounded wait,
    else 503) -> begin + tenant context -> yield -> commit, or roll back on any exception."""
    try:
        conn = await pool.acquire(timeout=timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceUnavailable() from exc
    try:
        await conn.execute(begin_statement(readonly=False, tenant_id=tenant_id))
        try:
            yield conn
        except BaseException:
            await _finish(conn, "rollback")
            raise
        await conn.execute("commit")
    finally:
        await pool.release(conn)


async def fetch_one(
    query: Callable[..., Awaitable[Any]], what: str, conn: asyncpg.Connection, **params: Any
) -> Any:
    """The one row ``query`` returns, or 404 "<what> not found" (another tenant's row is simply absent)."""
    row = await query(conn, **params)
    if row is None:
        raise NotFound.of(what)
    return row


async def tenant_lock(conn: asyncpg.Connection, tenant_id: uuid.UUID, name: str) -> None:
    """Serialise one kind of job per tenant until the transaction ends (directory syncs use it: they diff
    rows read in the same transaction, and concurrent bulk upserts could otherwise deadlock)."""
    await queries.db.tenant_xact_lock(conn, tenant_id=tenant_id, name=name)


async def provide_db(request: Request[Any, Any, Any], principal: Any) -> AsyncIterator[asyncpg.Connection]:
    """The request's connection: acquire (bounded wait) -> begin (read only for GET) + tenant context ->
    yield -> commit, or roll back on any exception (unless the error asks to keep its writes).

    It takes ``principal`` (a dependency) so that Litestar resolves it in a later batch than the
    dependencies without sub-dependencies, which include every input-validating one (pagination, cursor):
    when one of those fails, Litestar never cleans up generators of the same or earlier batches, and the
    connection would stay checked out with its transaction open until garbage collection."""
    pool: asyncpg.Pool = request.app.state.pool
    tenant_id = getattr(principal, "tenant_id", None)
    opt = request.route_handler.opt
    identity = opt.get("db_role") == "identity"
    try:
        conn = await pool.acquire(timeout=request.app.state.settings.pool_acquire_timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceUnavailable() from exc
    try:
        await conn.execute(
            begin_statement(
                readonly=request.method in SAFE_METHODS,
                tenant_id=tenant_id,
                identity=identity,
                generic_plans=opt.get("generic_plans", False),
            )
        )
        try:
            yield conn
        except AppError as exc:
            await _finish(conn, "commit" if exc.commit else "rollback")
            raise
        except BaseException:
            await _finish(conn, "rollback")
            raise
        else:
            await conn.execute("commit")
    finally:
        await pool.release(conn)


async def _finish(conn: asyncpg.Connection, verb: str) -> None:
    # On a broken connection there is nothing to finish: the original error is the one to report, and
    # the pool discards the connection on release.
    if conn.is_closed():
        return
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await conn.execute(verb)


async def _reset(conn: asyncpg.Connection) -> None:
    """What returning a connection to the pool must undo besides an open transaction (which asyncpg
    rolls back itself, and which requests never leave: ``provide_db`` commits or rolls back): nothing.
    Requests leave no session state behind (the tenant context, role and planner settings are SET
    LOCAL, advisory locks are transaction-level, nothing LISTENs on a pooled connection), so asyncpg's
    default reset query (unlock all, close all, unlisten, reset all) would be a round trip per request
    for nothing. tests/test_platform.py checks that pooled connections come back clean."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb arrive as str: repos pass them through as msgspec.Raw without parsing.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, schema="pg_catalog", encoder=str, decoder=str, format="text")


async def create_pool(settings: Settings) -> asyncpg.Pool:
    assert settings.database_url is not None
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.db_connect_timeout_s,
        command_timeout=settings.db_command_timeout_s,
        max_inactive_connection_lifetime=300,
        server_settings={"application_name": "reten", "jit": "off"},
        init=_init_connection,
        reset=_reset,
    )
    assert pool is not None
    return pool


async def check_role(conn: asyncpg.Connection) -> None:
    """Refuse to run as a role that could bypass row-level security or owns objects."""
    posture = await queries.db.role_posture(conn)
    problems = []
    if posture["is_superuser"]:
        problems.append("is a superuser")
    if posture["bypasses_rls"]:
        problems.append("has BYPASSRLS")
    owned = posture["owned_relations"] + posture["owned_functions"] + posture["owned_schemas"]
    if owned:
        problems.append(f"owns {owned} database objects")
    if problems:
        raise RuntimeError(
            f"refusing to start: database role {posture['role_name']!r} "
            + ", ".join(problems)
            + " (connect as the application role, e.g. reten_app)"
        )
    propagation = await queries.db.citus_propagation(conn)
    if propagation is not None and propagation != "local":
        raise RuntimeError(
            "refusing to start: Citus is installed but citus.propagate_set_commands is not 'local', "
            "so SET LOCAL app.tenant_id would not reach the workers"
        )


@asynccontextmanager
async def db_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            await check_role(conn)
        app.state.pool = pool
        yield
    finally:
        await pool.close()


# ---------------------------------------------------------------------------------------------------
# Migrations: forward-only numbered files, one transaction each, an advisory lock, checksums.
# ---------------------------------------------------------------------------------------------------
MIGRATION_LOCK_KEY = 0x7265_7465_6E  # "reten"
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append((match.group(1), path))
    versions = [v for v, _ in found]
    if len(versions) != len(set(versions)):
        raise MigrationError("two migration files share a number")
    return found


async def migrate(owner_dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations as the owner role; returns the file names applied now."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        await queries.migrations.lock(conn, key=MIGRATION_LOCK_KEY)
        try:
            await queries.migrations.create_ledger(conn)
            applied = {r["version"]: r for r in [r async for r in queries.migrations.applied(conn)]}
            done: list[str] = []
            for version, path in discover(directory):
                text = path.read_text(encoding="utf-8")
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if version in applied:
                    if applied[version]["checksum"] != checksum:
                        raise MigrationError(
                            f"{path.name} was edited after it was applied (checksum mismatch); "
                            "add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(text)
                    await queries.migrations.record(conn, version=version, name=path.name, checksum=checksum)
                done.append(path.name)
            return done
        finally:
            await queries.migrations.unlock(conn, key=MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
