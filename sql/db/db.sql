-- name: role_posture()^
-- The connected role's powers: the service refuses to start if it could bypass row-level security.
select r.rolname as role_name, r.rolsuper as is_superuser, r.rolbypassrls as bypasses_rls,
       (select count(*) from pg_catalog.pg_class c where c.relowner = r.oid) as owned_relations,
       (select count(*) from pg_catalog.pg_proc p where p.proowner = r.oid) as owned_functions,
       (select count(*) from pg_catalog.pg_namespace n where n.nspowner = r.oid) as owned_schemas
  from pg_catalog.pg_roles r
 where r.rolname = current_user;

-- name: citus_propagation()$
-- With Citus installed, SET LOCAL must reach the workers: returns the setting, or null without Citus.
select case when exists (select 1 from pg_catalog.pg_extension where extname = 'citus')
            then pg_catalog.current_setting('citus.propagate_set_commands', true) end;

-- name: ping()$
-- Readiness probe.
select 1;

-- name: database_exists(name)$
-- Bootstrap (as a superuser): does the service's database exist yet?
select exists (select 1 from pg_catalog.pg_database where datname = :name);

-- name: tenant_xact_lock(tenant_id, name)!
-- A transaction-scoped lock on one named job of one tenant (e.g. its commerce syncs run one at a time).
select pg_advisory_xact_lock(hashtextextended(:name::text || ':' || (:tenant_id::uuid)::text, 0));

-- name: plan_with_values#
-- For the rest of the transaction, plan each statement with its parameter values, sorts and bitmap scans
-- allowed again (a statement whose best plan depends on them, e.g. a deep OFFSET, on a route that
-- otherwise runs generic plans with those shapes ruled out: app.db.GENERIC_PLANS). Sequential scans stay
-- off: a page of ids joins back to its items by key, not by hashing the tenant's tasks.
set local plan_cache_mode = force_custom_plan;
set local enable_bitmapscan = on;
set local enable_sort = on;
