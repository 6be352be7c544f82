"""The database: pool lifespan, role self-check, the SQL namespaces, ``Tx`` (a transaction in one
tenant's context), and the yield-dependencies that own a request's connection, transaction and tenant
context. The migration runner is ``app.migrations``."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiosql
import asyncpg
from litestar import Litestar, Request

from app.config import PROJECT_ROOT, Settings
from app.errors import AppError, NotFound, ServiceUnavailable
from app.policy import RoutePolicy
from app.structs import Page, Pagination, json_param

T = TypeVar("T")

__all__ = (
    "IDENTITY_ROLE",
    "Connection",
    "Statement",
    "Transactions",
    "Tx",
    "acquire_by",
    "acquire_deadline",
    "begin_statement",
    "begin_tenant",
    "database_exists",
    "db_lifespan",
    "fetch_one",
    "has_citus",
    "init_connection",
    "is_citus",
    "json_param",
    "open_transaction",
    "paginate",
    "ping",
    "plan_with_values",
    "provide_db",
    "provide_transactions",
    "provide_tx",
    "queries",
    "rate_borrow",
    "rate_forget",
    "request_transaction",
    "statements",
    "tenant_lock",
    "tenant_transaction",
    "use_tenant",
)

log = logging.getLogger("reten.db")

Connection = asyncpg.Connection


@dataclasses.dataclass(frozen=True, slots=True)
class Tx:
    """One open transaction in one tenant's context: its connection, and the tenant id that rendered the
    transaction's ``SET LOCAL``. Built only where that statement is rendered (``request_transaction``,
    ``tenant_transaction``), so the tenant a repo names in its SQL and the one RLS enforces are the same
    value, not two that merely agree. Repos take it; handlers and services pass it along."""

    conn: asyncpg.Connection
    tenant_id: uuid.UUID


SQL_DIR = PROJECT_ROOT / "sql"
FRAGMENT = re.compile(r"^-- fragment: (\w+)\n(.*?)^-- end fragment\n", re.M | re.S)
FRAGMENT_USE = re.compile(r"\{\{(\w+)\}\}")


def expand_fragments(text: str) -> str:
    """A file's ``-- fragment: name`` ... ``-- end fragment`` blocks, pasted where a statement says
    ``{{name}}`` (the integration pull's filters: one text, in every statement that needs them, since a
    function would hide the tables from Citus). An unknown name is an error at load time."""
    fragments = {m.group(1): m.group(2).rstrip() for m in FRAGMENT.finditer(text)}
    return FRAGMENT_USE.sub(lambda m: fragments[m.group(1)], FRAGMENT.sub("", text))


def load_queries(directory: Path = SQL_DIR) -> Any:
    """One aiosql namespace per folder of ``sql/`` (``queries.<folder>.<name>``), fragments expanded."""
    root = aiosql.from_str("", "asyncpg")
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        text = "\n".join(
            expand_fragments(f.read_text(encoding="utf-8")) for f in sorted(folder.glob("*.sql"))
        )
        root.add_child_queries(folder.name, aiosql.from_str(text, "asyncpg"))
    return root


queries: Any = load_queries()


class Statement(NamedTuple):
    """One statement of ``sql/`` as the driver sends it, with its parameter names in bind order."""

    name: str  # "namespace.query"
    sql: str
    parameters: tuple[str, ...]


def statements() -> dict[str, Statement]:
    """Every statement by name (aiosql's ``_cursor`` twins left out): for the tools that explain or
    replay what the service sends (``reten bench citus``, the statement-routing test)."""
    catalog = {}
    for name in sorted(queries.available_queries):
        namespace, query = name.split(".")
        if query.endswith("_cursor"):
            continue
        folder = getattr(queries, namespace)
        order = tuple(folder.driver_adapter.var_sorted[query])
        catalog[name] = Statement(name, getattr(folder, query).sql, order)
    return catalog


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
    [SET LOCAL plan_cache_mode: generic plans, never re-planned per execution]. The opening on plain
    PostgreSQL (see ``opening``)."""
    parts = ["begin isolation level read committed read only" if readonly else "begin"]
    if tenant_id is not None:
        parts.append(_set_tenant(tenant_id))
    if identity:
        parts.append(f"set local role {IDENTITY_ROLE}")
    if generic_plans:
        parts.extend(GENERIC_PLANS)
    return "; ".join(parts)


def citus_opening(
    *, readonly: bool, tenant_id: uuid.UUID | None, identity: bool = False, generic_plans: bool = False
) -> tuple[str, ...]:
    """The same opening for Citus, which re-sends the whole query string of every SET LOCAL to each worker
    connection it opens later in the transaction (BEGIN included, once per SET). So the tenant context,
    the one setting the workers need, goes alone; the role is set with ``set_config(..., true)``, which
    Citus does not propagate: the role needs no propagation (Citus opens its worker connections as the
    current user), and a replayed SET ROLE would fail on the connections Citus opens as the owner of a
    SECURITY DEFINER lookup. Identity transactions also read across shards (a user's memberships) before
    they write a global (reference) table, which Citus allows only after a sequential multi-shard read.
    Generic plans are not forced: Citus cannot route a multi-table statement planned without its
    parameters (the workers plan each shard query with its values anyway). Two round trips, not one."""
    del generic_plans
    settings = []
    if identity:
        settings.append(f"set_config('role', '{IDENTITY_ROLE}', true)")
        settings.append("set_config('citus.multi_shard_modify_mode', 'sequential', true)")
    begin = "begin isolation level read committed read only" if readonly else "begin"
    first = f"{begin}; select {', '.join(settings)}" if settings else begin
    return (first, _set_tenant(tenant_id)) if tenant_id is not None else (first,)


def opening(
    citus: bool,
    *,
    readonly: bool,
    tenant_id: uuid.UUID | None,
    identity: bool = False,
    generic_plans: bool = False,
) -> tuple[str, ...]:
    """The statements that open a request's transaction, rendered for the server: one on PostgreSQL, two
    on Citus (chosen once per process: ``is_citus``)."""
    if citus:
        return citus_opening(
            readonly=readonly, tenant_id=tenant_id, identity=identity, generic_plans=generic_plans
        )
    return (
        begin_statement(
            readonly=readonly, tenant_id=tenant_id, identity=identity, generic_plans=generic_plans
        ),
    )


_citus: bool | None = None


async def is_citus(conn: asyncpg.Connection) -> bool:
    """Whether the database has the citus extension: asked once per process (the first transaction, or
    the start-up check), then remembered."""
    global _citus
    if _citus is None:
        _citus = await has_citus(conn)
    return _citus


# The statements of the database layer itself (``sql/db/``), for the modules that run them.
async def has_citus(conn: asyncpg.Connection) -> bool:
    """Whether this database has the citus extension (asked now; ``is_citus`` remembers it)."""
    return bool(await queries.db.has_citus(conn))


async def ping(conn: asyncpg.Connection) -> None:
    await queries.db.ping(conn)


async def database_exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await queries.db.database_exists(conn, name=name))


def rate_borrow(
    conn: asyncpg.Connection,
    *,
    buckets: list[str],
    rates: list[float],
    bursts: list[float],
    returned: list[float],
    debts: list[float],
    wants: list[float],
) -> AsyncIterator[asyncpg.Record]:
    """Settle a process's use of shared rate-limit buckets and borrow for the next interval: (bucket,
    granted) rows (app/ratelimit.py)."""
    rows: AsyncIterator[asyncpg.Record] = queries.db.rate_borrow(
        conn, buckets=buckets, rates=rates, bursts=bursts, returned=returned, debts=debts, wants=wants
    )
    return rows


async def rate_forget(conn: asyncpg.Connection, idle_s: float) -> None:
    """Drop shared rate-limit buckets idle for ``idle_s`` seconds (full again by then)."""
    await queries.db.rate_forget(conn, idle_s=idle_s)


async def plan_with_values(tx: Tx) -> None:
    """For the rest of the transaction, plan each statement with its parameter values (sql/db/)."""
    await queries.db.plan_with_values(tx.conn)


def forget_server_kind() -> None:
    """Ask ``is_citus`` again on the next transaction: only for a process that talks to two servers in
    turn (``reten bench citus``)."""
    global _citus
    _citus = None


async def open_transaction(
    conn: asyncpg.Connection,
    *,
    readonly: bool,
    tenant_id: uuid.UUID | None,
    identity: bool = False,
    generic_plans: bool = False,
) -> None:
    """BEGIN with the tenant context (and the identity role, generic plans) on ``conn``."""
    for statement in opening(
        await is_citus(conn),
        readonly=readonly,
        tenant_id=tenant_id,
        identity=identity,
        generic_plans=generic_plans,
    ):
        await conn.execute(statement)


async def begin_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID, *, readonly: bool = False) -> Tx:
    """BEGIN in ``tenant_id``'s context on a connection of one's own (tools: the seed, benchmarks), as the
    ``Tx`` the repos take; the caller commits or rolls back."""
    await open_transaction(conn, readonly=readonly, tenant_id=tenant_id)
    return Tx(conn, tenant_id)


async def use_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> Tx:
    """Switch the open transaction's tenant context (tenant setup, which creates the tenant it then
    seeds; key rotation, tenant by tenant), as the ``Tx`` the repos take."""
    await conn.execute(_set_tenant(tenant_id))
    return Tx(conn, tenant_id)


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
async def tenant_transaction(pool: asyncpg.Pool, tenant_id: uuid.UUID, timeout_s: float) -> AsyncIterator[Tx]:
    """A transaction in one tenant's context outside a request (the dispatcher, and manual dispatch,
    whose provider call must happen between two transactions, never inside one): acquire (bounded wait,
    else 503) -> begin + tenant context -> yield -> commit, or roll back on any exception."""
    try:
        conn = await pool.acquire(timeout=timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceUnavailable() from exc
    try:
        await open_transaction(conn, readonly=False, tenant_id=tenant_id)
        try:
            yield Tx(conn, tenant_id)
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


# A request's one deadline for getting a connection (scope state): set by its first acquire (the JWT
# principal lookup, or the request transaction), consumed by the request transaction. So a JWT request
# waits at most POOL_ACQUIRE_TIMEOUT_S in all, not that twice; a second transaction of the same request
# (after its hooks were asked) gets a whole timeout of its own.
_DEADLINE = "reten.acquire_deadline"


def acquire_deadline(scope: Any, timeout_s: float, *, consume: bool = False) -> float:
    """The request's acquire deadline (monotonic), started now if it has none; ``consume``: the request
    transaction, the last acquire that shares it."""
    state = scope.setdefault("state", {})
    deadline = state.pop(_DEADLINE, None) if consume else state.get(_DEADLINE)
    if deadline is None:
        deadline = time.monotonic() + timeout_s
        if not consume:
            state[_DEADLINE] = deadline
    return float(deadline)


async def acquire_by(pool: asyncpg.Pool, deadline: float) -> asyncpg.Connection:
    """A connection from ``pool`` before ``deadline`` (monotonic), else 503."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ServiceUnavailable()
    try:
        return await pool.acquire(timeout=remaining)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceUnavailable() from exc


@asynccontextmanager
async def _request_connection(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID | None
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction of a request: acquire (bounded wait, else 503) -> begin (read only for GET) +
    tenant context, role and plan mode of the route -> yield -> commit, or roll back on any exception
    (unless the error asks to keep its writes) -> release."""
    pool: asyncpg.Pool = request.app.state.pool
    policy = RoutePolicy.of(request.route_handler, request.scope["path"])
    timeout = request.app.state.settings.pool_acquire_timeout_s
    conn = await acquire_by(pool, acquire_deadline(request.scope, timeout, consume=True))
    try:
        await open_transaction(
            conn,
            readonly=request.method in SAFE_METHODS,
            tenant_id=tenant_id,
            identity=policy.db_role == "identity",
            generic_plans=policy.generic_plans,
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


def _principal_tenant(principal: Any) -> uuid.UUID:
    tenant_id = getattr(principal, "tenant_id", None)
    if tenant_id is None:  # a route wiring error: only tenant-scoped routes take ``tx``
        raise RuntimeError("a tenant transaction on a route without a tenant")
    return tenant_id  # type: ignore[no-any-return]


@asynccontextmanager
async def request_transaction(request: Request[Any, Any, Any], principal: Any) -> AsyncIterator[Tx]:
    """A transaction of a tenant-scoped request (``_request_connection``), as a ``Tx`` whose tenant id is
    the one that rendered its ``SET LOCAL``."""
    tenant_id = _principal_tenant(principal)
    async with _request_connection(request, tenant_id) as conn:
        yield Tx(conn, tenant_id)


async def provide_tx(request: Request[Any, Any, Any], principal: Any) -> AsyncIterator[Tx]:
    """The tenant-scoped request's transaction, one for the whole handler (``request_transaction``).

    It takes ``principal`` (a dependency) so that Litestar resolves it in a later batch than the
    dependencies without sub-dependencies, which include every input-validating one (pagination, cursor):
    when one of those fails, Litestar never cleans up generators of the same or earlier batches, and the
    connection would stay checked out with its transaction open until garbage collection."""
    async with request_transaction(request, principal) as tx:
        yield tx


async def provide_db(request: Request[Any, Any, Any], principal: Any) -> AsyncIterator[asyncpg.Connection]:
    """The connection of a route with no tenant of its own (login, tenants, users across tenants), in one
    transaction for the whole handler, with the principal's tenant context if it has one (``provide_tx``
    says why it takes ``principal``)."""
    async with _request_connection(request, getattr(principal, "tenant_id", None)) as conn:
        yield conn


Transactions = Callable[[], contextlib.AbstractAsyncContextManager[Tx]]


def provide_transactions(request: Request[Any, Any, Any], principal: Any) -> Transactions:
    """For a handler that must hold no connection part of the time (one that calls a tenant's hook
    between two transactions): opens the request's transactions one at a time, each as ``provide_tx``
    would. Nothing is acquired until the handler asks."""
    return lambda: request_transaction(request, principal)


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


async def init_connection(conn: asyncpg.Connection) -> None:
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
        server_settings={
            "application_name": "reten",
            "jit": "off",
            # Over the role's default: a request's statement outliving it is cancelled (503, connection
            # back in the pool) before the client gives up on the connection.
            "statement_timeout": f"{round(settings.db_statement_timeout_s * 1000)}ms",
        },
        init=init_connection,
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
    if await is_citus(conn):
        await check_citus(conn)


async def check_citus(conn: asyncpg.Connection) -> None:
    """On Citus, refuse to serve unless the tenant context reaches the workers, every table is distributed
    as the schema expects (``reten migrate`` does it), and Citus can connect as the definer roles."""
    problems = []
    propagation = await queries.db.citus_propagation(conn)
    if propagation != "local":
        problems.append(
            f"citus.propagate_set_commands is {propagation!r}, not 'local', so SET LOCAL app.tenant_id would "
            "not reach the workers (`reten migrate` sets it for the database; a server-wide setting may "
            "override it)"
        )
    misplaced = [r async for r in queries.db.citus_misplaced(conn)]
    if misplaced:
        problems.append(
            "the schema is not fully distributed (run `reten migrate` as the owner): "
            + "; ".join(f"app.{r['table_name']} must be {r['expected']}" for r in misplaced)
        )
    if missing := [r["rolname"] async for r in queries.db.citus_roles_without_login(conn)]:
        problems.append(
            f"Citus connects to the workers as {', '.join(missing)}, which cannot log in "
            "(run migrations/cluster/citus.sql as a superuser on the coordinator)"
        )
    if problems:
        raise RuntimeError("refusing to start on Citus: " + " | ".join(problems))


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
