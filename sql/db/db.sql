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

-- name: has_citus()$
-- Is the citus extension installed in this database? (Chooses how transactions open: app/db.py.)
select exists (select 1 from pg_catalog.pg_extension where extname = 'citus');

-- name: citus_misplaced()
-- On Citus: the tables of the app schema not distributed as they must be (tenant tables by tenant_id and
-- co-located, the global ones as reference tables). The service refuses to serve a half-distributed schema.
select c.relname as table_name,
       case when t.attname is not null then 'distributed by tenant_id, co-located with the other tenant tables'
            else 'a reference table' end as expected
  from pg_catalog.pg_class c
  left join pg_catalog.pg_attribute t on t.attrelid = c.oid and t.attname = 'tenant_id' and not t.attisdropped
  left join pg_catalog.pg_dist_partition p on p.logicalrelid = c.oid
 where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
   and not case when t.attname is not null
                then p.partmethod = 'h'
                     and pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) = 'tenant_id'
                     and p.colocationid = (select min(q.colocationid) from pg_catalog.pg_dist_partition q
                                            where q.partmethod = 'h'
                                              and q.logicalrelid::regclass::text like 'app.%')
                else p.partmethod = 'n' end is true
 order by c.relname;

-- name: citus_roles_without_login()
-- On Citus: the definer roles Citus must connect to the workers as (they need LOGIN there).
select rolname from pg_catalog.pg_roles
 where rolname in ('reten_identity', 'reten_auth') and not rolcanlogin
 order by rolname;

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

-- name: rate_borrow(buckets, rates, bursts, returned, debts, wants)
-- Settle this process's use of shared rate-limit buckets and borrow tokens for the next interval
-- (migrations/0011_rate_buckets.sql; app/ratelimit.py SharedBuckets). Buckets sorted by the caller.
select bucket, granted
  from app_runtime.rate_borrow(:buckets::text[], :rates::float8[], :bursts::float8[], :returned::float8[],
                       :debts::float8[], :wants::float8[]);

-- name: rate_forget(idle_s)!
-- Drop shared rate-limit buckets idle for idle_s seconds (full again by then).
delete from app_runtime.rate_buckets
 where refreshed_at < clock_timestamp() - make_interval(secs => :idle_s::float8);
