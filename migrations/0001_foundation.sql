-- Schema, the tenant-context helper, and the lock-down of public.
create schema app authorization reten_owner;
revoke all on schema public from public;
revoke create on schema app from public;
grant usage on schema app to reten_app, reten_identity, reten_auth;

-- The current tenant, from the transaction-local setting `app.tenant_id` (SET LOCAL by the service).
-- nullif(...,'') makes a connection that once had a tenant behave like one that never had one: NULL, so
-- every policy fails closed. STABLE, so `(select app.current_tenant_id())` is one InitPlan per statement.
create function app.current_tenant_id() returns uuid
  language sql stable parallel safe
  set search_path = ''
  as $$ select nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid $$;

grant execute on function app.current_tenant_id() to reten_app, reten_identity, reten_auth;
revoke execute on function app.current_tenant_id() from public;
