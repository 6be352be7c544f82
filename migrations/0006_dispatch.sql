-- Push dispatch (CONTRACT.md §8): the global providers and their channel definitions (seeded: YOM and
-- MOCK), and each tenant's dispatch configs, whose credentials are AES-256-GCM ciphertext made by the
-- service (app/dispatch/crypto.py: the key id is inside the value and in credentials_key_id, so a
-- rotation can find the rows still on an old key).

create table app.dispatch_providers (
  id             uuid primary key default gen_random_uuid(),
  code           text not null unique check (code ~ '^[A-Z][A-Z0-9_]{0,63}$'),
  name           text not null check (length(name) between 1 and 255),
  protocol_type  text not null check (protocol_type in ('REST', 'MOCK')),
  is_active      boolean not null default true,
  created_at     timestamptz not null default clock_timestamp(),
  updated_at     timestamptz not null default clock_timestamp()
);

create table app.dispatch_channel_definitions (
  id                 uuid primary key default gen_random_uuid(),
  dispatch_provider_id uuid not null references app.dispatch_providers (id) on delete cascade,
  channel            text not null
                     check (channel in ('SALESMAN', 'CALLCENTER', 'WHATSAPP', 'EMAIL', 'SMS', 'PUSH')),
  -- [{key, label, type, required}]
  credential_schema  jsonb not null default '[]' check (jsonb_typeof(credential_schema) = 'array'),
  settings_schema    jsonb not null default '[]' check (jsonb_typeof(settings_schema) = 'array'),
  created_at         timestamptz not null default clock_timestamp(),
  updated_at         timestamptz not null default clock_timestamp(),
  unique (dispatch_provider_id, channel)
);

-- Seeded here, idempotently (global reference data: the Reten team registers providers).
insert into app.dispatch_providers (code, name, protocol_type) values
  ('YOM', 'YOM Provider', 'REST'),
  ('MOCK', 'Mock Provider', 'MOCK')
on conflict (code) do nothing;
insert into app.dispatch_channel_definitions (dispatch_provider_id, channel, credential_schema)
select p.id, c.channel,
       case when p.code = 'YOM'
            then '[{"key": "apiKey", "label": "API Key", "type": "password", "required": true}]'::jsonb
            else '[]'::jsonb end
  from app.dispatch_providers p
  cross join (values ('SALESMAN'), ('CALLCENTER'), ('WHATSAPP'), ('EMAIL'), ('SMS'), ('PUSH')) c (channel)
 where p.code = 'MOCK' or (p.code = 'YOM' and c.channel in ('SALESMAN', 'CALLCENTER'))
on conflict (dispatch_provider_id, channel) do nothing;
grant select on app.dispatch_providers, app.dispatch_channel_definitions to reten_app;
-- Writes (SUPER_ADMIN only, an addition) run as reten_identity, like the other global administration.
grant select, insert, update on app.dispatch_providers, app.dispatch_channel_definitions to reten_identity;

create table app.dispatch_configs (
  tenant_id             uuid not null default app.current_tenant_id() references app.tenants (id),
  id                    uuid not null default gen_random_uuid(),
  dispatch_provider_id  uuid not null references app.dispatch_providers (id),
  channel               text not null
                        check (channel in ('SALESMAN', 'CALLCENTER', 'WHATSAPP', 'EMAIL', 'SMS', 'PUSH')),
  base_url              text check (length(base_url) between 1 and 2048),
  settings              jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
  credentials           bytea,
  credentials_key_id    text,
  is_active             boolean not null default true,
  created_at            timestamptz not null default clock_timestamp(),
  updated_at            timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  check ((credentials is null) = (credentials_key_id is null))
);
-- One active config per (tenant, channel) (CONTRACT.md §8: 409).
create unique index dispatch_configs_active_channel_key on app.dispatch_configs (tenant_id, channel)
  where is_active;
create index dispatch_configs_created_idx on app.dispatch_configs (tenant_id, created_at, id);
-- Rotation finds the rows still on an old key.
create index dispatch_configs_key_idx on app.dispatch_configs (tenant_id, credentials_key_id)
  where credentials_key_id is not null;

alter table app.dispatch_configs enable row level security;
alter table app.dispatch_configs force row level security;
create policy tenant_isolation on app.dispatch_configs for all
  using (tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));
grant select, insert, update, delete on app.dispatch_configs to reten_app;

-- Delivery state on the activity: a dispatcher (or a manual dispatch) holds it until dispatch_lease_until
-- while its call is in flight, so nobody else sends it meanwhile; after a failed attempt it waits until
-- next_attempt_at (backoff).
alter table app.activities add column dispatch_lease_until timestamptz, add column next_attempt_at timestamptz;
-- The claim: READY activities that are due and not held, per tenant and channel.
create index activities_dispatch_due_idx on app.activities (tenant_id, channel, next_attempt_at)
  where status = 'READY';

-- Wake the dispatcher when an activity becomes READY (created, or resolved on retry): one notification
-- per tenant and transaction (PostgreSQL folds identical ones).
create function app.notify_activity_ready() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  if tg_op = 'INSERT' or old.status is distinct from 'READY' then
    perform pg_catalog.pg_notify('reten_activity_ready', new.tenant_id::text);
  end if;
  return null;
end
$$;
create trigger activities_ready_notify after insert or update of status on app.activities
  for each row when (new.status = 'READY') execute function app.notify_activity_ready();

-- The dispatcher's one cross-tenant read (ARCHITECTURE.md rule 2): which tenants have a READY activity
-- that is due, not held, on a channel with an active config. It returns tenant ids only; the claim
-- itself runs inside each tenant's context. Owned by reten_auth (the owner of the reviewed cross-tenant
-- lookups), which may read just these columns of these two tables across tenants.
create function app.dispatch_due_tenants(p_limit integer)
  returns table (tenant_id uuid)
  language sql stable security definer
  set search_path = ''
  as $$
    select c.tenant_id
      from (select distinct d.tenant_id, d.channel from app.dispatch_configs d where d.is_active) c
     where exists (select 1 from app.activities a
                    where a.tenant_id = c.tenant_id and a.channel = c.channel and a.status = 'READY'
                      and (a.next_attempt_at is null or a.next_attempt_at <= now())
                      and (a.dispatch_lease_until is null or a.dispatch_lease_until <= now()))
     group by c.tenant_id
     order by pg_catalog.random()
     limit p_limit
  $$;
grant select (tenant_id, channel, status, next_attempt_at, dispatch_lease_until) on app.activities to reten_auth;
grant select (tenant_id, channel, is_active) on app.dispatch_configs to reten_auth;
create policy dispatch_scan on app.activities for select to reten_auth using (true);
create policy dispatch_scan on app.dispatch_configs for select to reten_auth using (true);
revoke execute on function app.dispatch_due_tenants(integer) from public;
grant execute on function app.dispatch_due_tenants(integer) to reten_app;
grant create on schema app to reten_auth;
alter function app.dispatch_due_tenants(integer) owner to reten_auth;
revoke create on schema app from reten_auth;
