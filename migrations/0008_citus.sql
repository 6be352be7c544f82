-- Ready for Citus (research/citus-check.md): the schema changes Citus needs, which plain PostgreSQL runs
-- just the same, and the distribution itself, which runs only where the citus extension is installed
-- (app.distribute_on_citus(), also called by every `reten migrate`, so a database migrated before Citus
-- was added is distributed by the next run).

-- 1. The tenant context without a pinned search_path, so PostgreSQL inlines it: a policy may then say
--    `tenant_id = app.current_tenant_id()` (Citus refuses subqueries in policies on distributed tables)
--    and still cost one GUC read per scan, not a function call per row. The body names only pg_catalog
--    objects, so no search_path can redirect it.
create or replace function app.current_tenant_id() returns pg_catalog.uuid
  language sql stable parallel safe
  as $$ select nullif(pg_catalog.current_setting('app.tenant_id', true), '')::pg_catalog.uuid $$;
alter function app.current_tenant_id() reset all;

do $$
declare
  t record;
begin
  for t in select tablename from pg_catalog.pg_policies
            where schemaname = 'app' and policyname = 'tenant_isolation'
  loop
    execute format('alter policy tenant_isolation on app.%I
                      using (tenant_id = app.current_tenant_id())
                      with check (tenant_id = app.current_tenant_id())', t.tablename);
  end loop;
end
$$;

-- 2. ON DELETE SET NULL cannot name the distribution key's table on Citus. Routes and operators are only
--    ever deactivated, never deleted, so the rule never ran: a plain reference keeps the integrity.
alter table app.activities drop constraint activities_tenant_id_route_id_fkey,
  add constraint activities_tenant_id_route_id_fkey
      foreign key (tenant_id, route_id) references app.routes (tenant_id, id);
alter table app.activities drop constraint activities_tenant_id_operator_id_fkey,
  add constraint activities_tenant_id_operator_id_fkey
      foreign key (tenant_id, operator_id) references app.operators (tenant_id, id);

-- 3. A NOTIFY from a trigger would fire on the worker that holds the row, where nobody listens. The
--    service notifies from the coordinator in the same transaction instead (app.activities.service).
drop trigger activities_ready_notify on app.activities;
drop function app.notify_activity_ready();

-- 4. The pull's filters now sit in its statements (sql/integration/integration.sql): Citus cannot see
--    the tables behind `FROM function()`.
drop function app.integration_tasks_matching(uuid, text, text, text, text, text, text, timestamptz, timestamptz);

-- 5. Tenant setup and a membership's removal run as reten_identity from start to end: Citus refuses a
--    transaction that switches roles after touching a distributed table (its connections to the workers
--    belong to a user). So the identity role seeds the new tenant's result types and revokes the removed
--    member's keys itself, still under the tenant's row-level security.
grant select, insert on app.task_result_types to reten_identity;
grant select (tenant_id, id, user_id, revoked_at), update (revoked_at) on app.api_keys to reten_identity;

-- The status events' identity column: Citus draws its values on the coordinator, as the inserting role.
grant usage on sequence app.activity_status_events_seq_seq to reten_app;

-- 6. The API-key lookup in two statements: the digest probe (across tenants: the key decides the
--    tenant) and the once-a-minute touch, which then names its tenant and so reaches one shard. Citus
--    refuses the data-modifying CTE over a cross-shard read that the single statement was. Replaced by its
--    owner, reten_auth (as 0007 created it).
grant create on schema app to reten_auth;
set role reten_auth;
create or replace function app.api_key_principal(p_digest bytea)
  returns table (tenant_id uuid, key_id uuid, user_id uuid, permissions text[], creator_roles text[],
                 creator_is_super_admin boolean, expires_at timestamptz, revoked_at timestamptz,
                 tenant_active boolean, user_active boolean, creator_is_member boolean)
  language plpgsql volatile security definer
  set search_path = ''
  as $$
declare
  k record;
begin
  select a.tenant_id, a.id, a.user_id, a.permissions, a.expires_at, a.revoked_at, a.last_used_at
    into k
    from app.api_keys a
   where a.key_digest = p_digest;
  if not found then
    return;
  end if;
  if k.revoked_at is null and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute') then
    update app.api_keys a set last_used_at = now() where a.tenant_id = k.tenant_id and a.id = k.id;
  end if;
  return query
    select k.tenant_id, k.id, k.user_id, k.permissions, m.roles, u.is_super_admin, k.expires_at, k.revoked_at,
           t.is_active, u.is_active, m.user_id is not null
      from app.tenants t
      join app.users u on u.id = k.user_id
      left join app.tenant_memberships m on m.tenant_id = k.tenant_id and m.user_id = k.user_id
     where t.id = k.tenant_id;
end
$$;
reset role;
revoke create on schema app from reten_auth;
grant select (last_used_at) on app.api_keys to reten_auth;

-- 7. Distribution, where Citus is installed: every tenant table by tenant_id, all co-located (a tenant's
--    rows of every table on one node, so every statement of a request is a single-shard router query),
--    and the global tables (tenants, users, refresh tokens, the catalogues) as reference tables, copied
--    to every node. Idempotent: tables already distributed are left as they are. Run as the owner.
create procedure app.distribute_on_citus()
  language plpgsql
  set search_path = ''
  as $$
declare
  t record;
  anchor regclass;
  pending integer;
  done integer;
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'citus') then
    return;
  end if;
  -- Migrations run before the first distribution do not send their objects to the workers
  -- (app/db.py::migrate); distribution sends what the tables need, with their dependencies.
  set local citus.enable_ddl_propagation = on;
  -- SET LOCAL app.tenant_id must reach the workers (the service refuses to start otherwise).
  execute format('alter database %I set citus.propagate_set_commands = %L', current_database(), 'local');
  -- Foreign keys from tenant tables to tenants/users are kept: without this, making `tenants` a reference
  -- table would first turn every local table that references it into a Citus local table.
  set local citus.enable_local_reference_table_foreign_keys = off;
  set local citus.multi_shard_modify_mode = 'sequential';
  select p.logicalrelid into anchor from pg_catalog.pg_dist_partition p
   where p.partmethod = 'h' and p.logicalrelid::regclass::text like 'app.%' limit 1;
  -- Each table after the tables it references (a foreign key needs its target distributed first).
  loop
    pending := 0;
    done := 0;
    for t in
      select c.oid::regclass as rel,
             exists (select from pg_catalog.pg_attribute a
                      where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as tenant,
             not exists (select from pg_catalog.pg_constraint f
                          where f.conrelid = c.oid and f.contype = 'f' and f.confrelid <> c.oid
                            and not exists (select from pg_catalog.pg_dist_partition p
                                             where p.logicalrelid = f.confrelid)) as ready
        from pg_catalog.pg_class c
       where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
         and not exists (select from pg_catalog.pg_dist_partition p where p.logicalrelid = c.oid)
       order by c.relname
    loop
      if not t.ready then
        pending := pending + 1;
        continue;
      end if;
      if not t.tenant then
        perform create_reference_table(t.rel);
      elsif anchor is null then
        perform create_distributed_table(t.rel, 'tenant_id');
        anchor := t.rel;
      else
        perform create_distributed_table(t.rel, 'tenant_id', colocate_with => anchor::text);
      end if;
      done := done + 1;
    end loop;
    exit when pending = 0;
    if done = 0 then
      raise exception 'cannot distribute: foreign keys between app tables form a cycle';
    end if;
  end loop;
  -- The functions that statements routed to a worker call there (app.iso_ms in the item views, the
  -- tenant context in the policies): created on every node. The SECURITY DEFINER lookups run on the
  -- coordinator only.
  for t in
    select p.oid::regprocedure::text as fn
      from pg_catalog.pg_proc p
     where p.pronamespace = 'app'::regnamespace and p.prokind = 'f' and not p.prosecdef
       and not exists (select from pg_catalog.pg_dist_object o
                        where o.classid = 'pg_catalog.pg_proc'::regclass and o.objid = p.oid)
  loop
    perform create_distributed_function(t.fn);
  end loop;
end
$$;
revoke execute on procedure app.distribute_on_citus() from public;

call app.distribute_on_citus();
