-- name: create_ledger#
-- The ledger of applied migration files (version = file name prefix, checksum = SHA-256 of the text).
create table if not exists public.schema_migrations (
  version     text primary key,
  name        text not null,
  checksum    text not null,
  applied_at  timestamptz not null default now()
);

-- name: lock(key)$
-- Serialise concurrent runners (several processes starting at once) on one advisory lock.
select pg_advisory_lock(:key::bigint) is not null;

-- name: unlock(key)$
-- Release the runner's advisory lock.
select pg_advisory_unlock(:key::bigint);

-- name: applied()
-- Every applied migration with its checksum.
select version, name, checksum from public.schema_migrations order by version;

-- name: record(version, name, checksum)!
-- Remember one applied file, in the same transaction as its DDL.
insert into public.schema_migrations (version, name, checksum) values (:version, :name, :checksum);

-- name: citus_distributed()$
-- With Citus installed: is any table of the app schema distributed yet?
select exists (select 1 from pg_catalog.pg_class c
                    where c.relnamespace = (select oid from pg_catalog.pg_namespace where nspname = 'app')
                      and exists (select 1 from pg_catalog.pg_dist_partition p where p.logicalrelid = c.oid));

-- name: distribute_on_citus#
-- After the migrations: where Citus is installed, distribute what is not yet distributed (0008).
do $$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'citus')
     and to_regprocedure('app.distribute_on_citus()') is not null then
    call app.distribute_on_citus();
  end if;
end
$$;
