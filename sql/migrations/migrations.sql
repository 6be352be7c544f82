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
