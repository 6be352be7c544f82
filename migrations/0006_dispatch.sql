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
