"""Catalog invariants of the tenant model, discovered from pg_catalog so every future table, index, foreign
key, policy and SECURITY DEFINER function is covered without touching this file. Assertions run as the
application role (the catalog is readable by it); the owner only appears in the self-test, which builds
violating objects inside a transaction it rolls back, to prove each check can fail."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import asyncpg
import pytest

from app.config import PROJECT_ROOT
from app.db import check_role, queries
from app.embedded import ClusterDsns
from app.migrations import MigrationError, migrate

APP_ROLE = "reten_app"
OWNER_ROLE = "reten_owner"
AUTH_ROLE = "reten_auth"
GLOBAL_TABLES = ("app.users", "app.tenants", "app.refresh_tokens")
KNOWN_TENANT_TABLES = {"app.tenant_memberships", "app.api_keys"}
SQL_NAMESPACES = ("auth", "users", "tenants", "api_keys", "db", "migrations")

# Tables (plain or partitioned) of schema app that carry a tenant_id column.
TENANT_TABLES = """
select c.oid, c.oid::regclass::text as name, c.relrowsecurity, c.relforcerowsecurity,
       (select count(*) from pg_catalog.pg_policy p where p.polrelid = c.oid) as policies
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'app' and c.relkind in ('r', 'p')
   and exists (select 1 from pg_catalog.pg_attribute a
                where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
 order by 2
"""


async def tenant_tables(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    return {r["name"]: r for r in await conn.fetch(TENANT_TABLES)}


async def rls_violations(conn: asyncpg.Connection) -> list[str]:
    problems = []
    for name, r in (await tenant_tables(conn)).items():
        if not r["relrowsecurity"]:
            problems.append(f"{name}: row level security not enabled")
        if not r["relforcerowsecurity"]:
            problems.append(f"{name}: row level security not forced")
        if r["policies"] == 0:
            problems.append(f"{name}: no policy")
    return problems


async def isolation_policy_violations(conn: asyncpg.Connection) -> list[str]:
    """Every tenant table has a permissive FOR ALL policy for everyone, both clauses keyed on the context
    and nothing else (no subquery: Citus refuses them in policies on distributed tables)."""
    rows = await conn.fetch(
        """
        select t.name,
               exists (select 1 from pg_catalog.pg_policies p
                        where p.schemaname || '.' || p.tablename = t.name
                          and p.permissive = 'PERMISSIVE' and p.cmd = 'ALL' and p.roles = '{public}'
                          and p.qual = '(tenant_id = app.current_tenant_id())'
                          and p.with_check = '(tenant_id = app.current_tenant_id())') as ok
          from (select c.oid::regclass::text as name
                  from pg_catalog.pg_class c
                  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'app' and c.relkind in ('r', 'p')
                   and exists (select 1 from pg_catalog.pg_attribute a
                                where a.attrelid = c.oid and a.attname = 'tenant_id'
                                  and not a.attisdropped)) t
        """
    )
    return [f"{r['name']}: no tenant_isolation-style policy" for r in rows if not r["ok"]]


UNIQUE_INDEXES = """
select i.indexrelid::regclass::text as index, i.indrelid::regclass::text as table,
       pg_catalog.pg_get_indexdef(i.indexrelid) as def, i.indkey[0] = a.attnum as leads
  from pg_catalog.pg_index i
  join pg_catalog.pg_class c on c.oid = i.indrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a
    on a.attrelid = i.indrelid and a.attname = 'tenant_id' and not a.attisdropped
 where n.nspname = 'app' and i.indisunique
 order by 1
"""


async def unique_index_violations(conn: asyncpg.Connection) -> list[str]:
    return [f"{r['index']}: {r['def']}" for r in await conn.fetch(UNIQUE_INDEXES) if not r["leads"]]


FOREIGN_KEYS = """
select con.conname, con.conrelid::regclass::text as child, con.confrelid::regclass::text as parent,
       con.conkey[1] = ca.attnum as child_leads, con.confkey[1] = pa.attnum as parent_leads,
       pg_catalog.pg_get_constraintdef(con.oid) as def
  from pg_catalog.pg_constraint con
  join pg_catalog.pg_class cc on cc.oid = con.conrelid
  join pg_catalog.pg_namespace cn on cn.oid = cc.relnamespace
  join pg_catalog.pg_class pc on pc.oid = con.confrelid
  join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
  join pg_catalog.pg_attribute ca
    on ca.attrelid = con.conrelid and ca.attname = 'tenant_id' and not ca.attisdropped
  join pg_catalog.pg_attribute pa
    on pa.attrelid = con.confrelid and pa.attname = 'tenant_id' and not pa.attisdropped
 where con.contype = 'f' and cn.nspname = 'app' and pn.nspname = 'app'
 order by 1
"""


async def foreign_key_violations(conn: asyncpg.Connection) -> list[str]:
    return [
        f"{r['child']}.{r['conname']} -> {r['parent']}: {r['def']}"
        for r in await conn.fetch(FOREIGN_KEYS)
        if not (r["child_leads"] and r["parent_leads"])
    ]


SECURITY_DEFINERS = """
select p.oid::regprocedure::text as fn, r.rolname as owner, r.rolsuper as owner_is_super,
       coalesce(p.proconfig, '{}') as config,
       pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') as public_exec,
       exists (select 1 from pg_catalog.aclexplode(p.proacl) acl
                where acl.grantee = 'reten_app'::regrole and acl.privilege_type = 'EXECUTE') as app_granted
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  join pg_catalog.pg_roles r on r.oid = p.proowner
 where n.nspname = 'app' and p.prosecdef
 order by 1
"""


async def security_definer_violations(conn: asyncpg.Connection) -> list[str]:
    problems = []
    for r in await conn.fetch(SECURITY_DEFINERS):
        if not any(entry.startswith("search_path=") for entry in r["config"]):
            problems.append(f"{r['fn']}: search_path not pinned")
        if r["owner"] == OWNER_ROLE or r["owner_is_super"]:
            problems.append(f"{r['fn']}: owned by {r['owner']}")
    return problems


async def definer_grant_violations(conn: asyncpg.Connection) -> list[str]:
    """A definer function runs with its owner's reach: only the roles granted EXECUTE may call it."""
    return [
        f"{r['fn']}: executable by PUBLIC" for r in await conn.fetch(SECURITY_DEFINERS) if r["public_exec"]
    ]


OPEN_POLICIES = """
select p.schemaname || '.' || p.tablename as table, p.policyname, p.roles::text[] as roles
  from pg_catalog.pg_policies p
 where p.qual = 'true' or p.with_check = 'true'
 order by 1, 2
"""


async def open_policy_violations(conn: asyncpg.Connection) -> list[str]:
    return [
        f"{r['table']}.{r['policyname']}: using/with check (true) for {r['roles']}"
        for r in await conn.fetch(OPEN_POLICIES)
        if list(r["roles"]) != [AUTH_ROLE]
    ]


# ---------------------------------------------------------------------------------------------------
# The invariants, as the application role.
# ---------------------------------------------------------------------------------------------------
async def test_tenant_tables_are_discovered(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        found = set(await tenant_tables(conn))
    # Guards against a discovery query that silently finds nothing (every check below would pass).
    assert found >= KNOWN_TENANT_TABLES
    assert not found & set(GLOBAL_TABLES)


async def test_tenant_tables_force_rls_with_a_policy(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await rls_violations(conn) == []


async def test_tenant_tables_have_the_isolation_policy(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await isolation_policy_violations(conn) == []


async def test_unique_indexes_on_tenant_tables_lead_with_tenant_id(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await conn.fetch(UNIQUE_INDEXES), "no unique index found on any tenant table"
        assert await unique_index_violations(conn) == []


async def test_tenant_to_tenant_foreign_keys_lead_with_tenant_id(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await foreign_key_violations(conn) == []


async def test_app_role_cannot_bypass_rls(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        role = await conn.fetchrow(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_catalog.pg_roles"
            " where rolname = $1",
            APP_ROLE,
        )
        assert role is not None
        assert dict(role) == {
            "rolsuper": False,
            "rolbypassrls": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
        }
        # Not a member of the owner (who could disable RLS) nor of the definer role (using (true)).
        for other in (OWNER_ROLE, AUTH_ROLE):
            assert not await conn.fetchval("select pg_catalog.pg_has_role($1, $2, 'MEMBER')", APP_ROLE, other)


async def test_app_role_owns_nothing(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        owned = await conn.fetch(
            """
            select 'relation' as kind, c.oid::regclass::text as name
              from pg_catalog.pg_class c where c.relowner = $1::regrole
            union all
            select 'function', p.oid::regprocedure::text
              from pg_catalog.pg_proc p where p.proowner = $1::regrole
            union all
            select 'schema', n.nspname::text
              from pg_catalog.pg_namespace n where n.nspowner = $1::regrole
            union all
            select 'type', t.oid::regtype::text
              from pg_catalog.pg_type t where t.typowner = $1::regrole
            union all
            select 'database', d.datname::text
              from pg_catalog.pg_database d where d.datdba = $1::regrole
            """,
            APP_ROLE,
        )
        assert [tuple(r) for r in owned] == []
        # ...and cannot come to own anything.
        for schema in ("app", "public"):
            assert not await conn.fetchval(
                "select pg_catalog.has_schema_privilege($1, $2, 'CREATE')", APP_ROLE, schema
            )


@pytest.mark.parametrize("table", GLOBAL_TABLES)
async def test_app_role_has_no_privilege_on_global_tables(app_pool: asyncpg.Pool, table: str) -> None:
    async with app_pool.acquire() as conn:
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            assert not await conn.fetchval(
                "select pg_catalog.has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ), f"{APP_ROLE} has {privilege} on {table}"
        for privilege in ("SELECT", "INSERT", "UPDATE", "REFERENCES"):
            assert not await conn.fetchval(
                "select pg_catalog.has_any_column_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ), f"{APP_ROLE} has column {privilege} on {table}"


async def test_security_definer_functions_are_pinned_and_not_owner_owned(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        functions = {r["fn"] for r in await conn.fetch(SECURITY_DEFINERS)}
        assert "app.api_key_principal(bytea)" in functions  # discovery finds the known ones
        assert await security_definer_violations(conn) == []


async def test_security_definer_functions_are_not_executable_by_public(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await definer_grant_violations(conn) == []


async def test_app_role_holds_explicit_grants_on_the_auth_lookups(app_pool: asyncpg.Pool) -> None:
    """The service calls these; it must do so through its own grant (not PUBLIC, which the migration
    means to revoke), or revoking PUBLIC would break authentication."""
    async with app_pool.acquire() as conn:
        granted = {r["fn"]: r["app_granted"] for r in await conn.fetch(SECURITY_DEFINERS)}
    for fn in ("app.api_key_principal(bytea)", "app.user_principal(uuid,uuid)", "app.user_tenants(uuid)"):
        assert granted.get(fn) is True, f"{APP_ROLE} holds no EXECUTE grant of its own on {fn}"


VIEWS = """
select c.relname as view, coalesce('security_invoker=true' = any (c.reloptions), false) as invoker
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'app' and c.relkind = 'v'
"""


async def test_views_run_as_their_caller(app_pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    """A view runs with its owner's rights unless security_invoker is set: reading a tenant table
    through one as the owner (which the tenant policy still binds, FORCE) must not be possible, and
    the caller's row-level security must apply. Every view in app is security_invoker."""
    async with app_pool.acquire() as conn:
        views = {r["view"]: r["invoker"] for r in await conn.fetch(VIEWS)}
    assert "integration_tasks" in views  # discovery finds the known one
    assert [v for v, invoker in views.items() if not invoker] == []
    async with owner_pool.acquire() as conn:  # self-test: a view without the option is reported
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("create view app.catalog_probe as select 1 as one")
            assert {r["view"]: r["invoker"] for r in await conn.fetch(VIEWS)}["catalog_probe"] is False
        finally:
            await tx.rollback()


async def test_open_policies_apply_only_to_the_auth_role(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        assert await open_policy_violations(conn) == []


async def test_checks_detect_violations(owner_pool: asyncpg.Pool) -> None:
    """Self-test: objects breaking every rule (created as the owner, rolled back) are all reported."""
    async with owner_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                """
                create table app.zz_probe_parent (
                  tenant_id uuid not null, id uuid not null, primary key (tenant_id, id), unique (id));
                alter table app.zz_probe_parent enable row level security;
                create policy zz_open on app.zz_probe_parent using (true);
                create table app.zz_probe_child (
                  tenant_id uuid not null, id uuid primary key,
                  parent_id uuid references app.zz_probe_parent (id));
                create function app.zz_probe_fn() returns int language sql security definer
                  as 'select 1';
                """
            )
            rls = await rls_violations(conn)
            assert "app.zz_probe_parent: row level security not forced" in rls
            assert "app.zz_probe_child: row level security not enabled" in rls
            assert "app.zz_probe_child: no policy" in rls
            isolation = await isolation_policy_violations(conn)
            assert {p.split(":")[0] for p in isolation} == {"app.zz_probe_parent", "app.zz_probe_child"}
            unique = await unique_index_violations(conn)
            assert {u.split(":")[0] for u in unique} == {
                "app.zz_probe_parent_id_key",
                "app.zz_probe_child_pkey",
            }
            fks = await foreign_key_violations(conn)
            assert len(fks) == 1 and fks[0].startswith("app.zz_probe_child.")
            definers = await security_definer_violations(conn)
            assert "app.zz_probe_fn(): search_path not pinned" in definers
            assert "app.zz_probe_fn(): owned by reten_owner" in definers
            assert "app.zz_probe_fn(): executable by PUBLIC" in await definer_grant_violations(conn)
            assert [p.split(":")[0] for p in await open_policy_violations(conn)] == [
                "app.zz_probe_parent.zz_open"
            ]
        finally:
            await tx.rollback()
        assert await conn.fetchval("select to_regclass('app.zz_probe_parent')") is None


# ---------------------------------------------------------------------------------------------------
# SQL files, the start-up role check, the migration runner.
# ---------------------------------------------------------------------------------------------------
def test_every_sql_file_loads_with_aiosql() -> None:
    for namespace in SQL_NAMESPACES:
        assert hasattr(queries, namespace), namespace
    sql_dir = PROJECT_ROOT / "sql"
    files = sorted(sql_dir.rglob("*.sql"))
    assert files
    for path in files:
        namespace = getattr(queries, path.parent.relative_to(sql_dir).as_posix().replace("/", "."))
        names = re.findall(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)", path.read_text(encoding="utf-8"), re.M)
        assert names, f"{path}: no named query"
        for name in names:
            assert callable(getattr(namespace, name, None)), f"{path}: {name} not loaded"


async def test_check_role_refuses_the_owner(cluster: ClusterDsns) -> None:
    conn = await asyncpg.connect(cluster.owner)
    try:
        with pytest.raises(RuntimeError, match="owns"):
            await check_role(conn)
    finally:
        await conn.close()


async def test_check_role_accepts_the_app_role(app_pool: asyncpg.Pool) -> None:
    async with app_pool.acquire() as conn:
        await check_role(conn)


async def test_migrate_again_is_a_no_op(cluster: ClusterDsns) -> None:
    assert await migrate(cluster.owner) == []


async def test_migrate_refuses_an_edited_applied_file(cluster: ClusterDsns, tmp_path: Path) -> None:
    for path in sorted((PROJECT_ROOT / "migrations").glob("*.sql")):
        shutil.copy(path, tmp_path / path.name)
    edited = tmp_path / "0001_foundation.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited after it was applied\n", "utf-8")
    with pytest.raises(MigrationError, match="checksum"):
        await migrate(cluster.owner, tmp_path)
    # The failed run released its advisory lock: a normal run still completes.
    assert await asyncio.wait_for(migrate(cluster.owner), timeout=30) == []


async def test_concurrent_migrate_runs(cluster: ClusterDsns) -> None:
    results = await asyncio.wait_for(asyncio.gather(*(migrate(cluster.owner) for _ in range(3))), timeout=60)
    assert results == [[], [], []]
