-- Cluster-level roles (run once per PostgreSQL cluster by a superuser: the embedded runner and the test
-- fixture do it for you; on a managed server a DBA runs this file). Idempotent.
--
--   reten_owner     LOGIN; runs the migrations and owns every object. Never used by the running service.
--   reten_app       LOGIN NOSUPERUSER NOBYPASSRLS; the service's role: DML grants only, owns nothing.
--   reten_identity  NOLOGIN; holds the grants on the global identity tables (users, tenants, refresh
--                   tokens). reten_app may SET ROLE to it (membership WITH INHERIT FALSE), which only the
--                   identity routes do, inside their transaction.
--   reten_auth      NOLOGIN; owns the few SECURITY DEFINER lookups that must work before a tenant is known
--                   (API-key digest -> tenant, a user's tenants). Nobody can SET ROLE to it.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'reten_owner') then
    create role reten_owner login nosuperuser nobypassrls nocreatedb nocreaterole;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'reten_app') then
    create role reten_app login nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'reten_identity') then
    create role reten_identity nologin nosuperuser nobypassrls nocreatedb nocreaterole;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'reten_auth') then
    create role reten_auth nologin nosuperuser nobypassrls nocreatedb nocreaterole;
  end if;
end
$$;

-- The owner hands function ownership to reten_auth and grants to the others, so it must be a member.
grant reten_auth to reten_owner with inherit false, set true;
grant reten_identity to reten_owner with inherit false, set true;
-- The service may become reten_identity for one transaction; it inherits nothing from it.
grant reten_identity to reten_app with inherit false, set true;

-- Fail fast instead of hanging: a runaway statement or an abandoned transaction cannot hold a backend.
alter role reten_app set statement_timeout = '5s';
alter role reten_app set idle_in_transaction_session_timeout = '10s';
alter role reten_app set lock_timeout = '3s';
