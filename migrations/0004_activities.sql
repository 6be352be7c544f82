-- Activities (CONTRACT.md §5-§6): the global attribute-key catalogue; per tenant the activity
-- configuration (task result types, target-resolution configs and criteria, attribute policies); the
-- activities with their target users, attributes and status events; and the results that come back.
-- Tenant tables follow 0003: tenant_id leads every key, RLS is forced, references are composite.

-- The global catalogue of attribute keys (read-only through the API; a reference table under Citus).
-- Seeded here, idempotently, so every start of the service that applies migrations has it.
create table app.attribute_keys (
  id           uuid primary key default gen_random_uuid(),
  key          text not null unique check (key ~ '^[a-z][a-z0-9_]{0,63}$'),
  label        text not null check (length(label) between 1 and 255),
  description  text not null default '' check (length(description) <= 1000),
  created_at   timestamptz not null default clock_timestamp()
);
insert into app.attribute_keys (key, label, description) values
  ('commerce_info', 'Commerce Info', 'Commerce data for activity context'),
  ('promotions', 'Promotions', 'Active promotions for the commerce')
on conflict (key) do nothing;
grant select on app.attribute_keys to reten_app;

create table app.task_result_types (
  tenant_id                     uuid not null default app.current_tenant_id() references app.tenants (id),
  id                            uuid not null default gen_random_uuid(),
  code                          text not null check (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  label                         text not null check (length(label) between 1 and 255),
  requires_future_scheduled_at  boolean not null default false,
  is_active                     boolean not null default true,
  created_at                    timestamptz not null default clock_timestamp(),
  updated_at                    timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id)
);
create unique index task_result_types_code_key on app.task_result_types (tenant_id, code);

create table app.target_resolution_configs (
  tenant_id                 uuid not null default app.current_tenant_id() references app.tenants (id),
  id                        uuid not null default gen_random_uuid(),
  resolution_strategy       text not null check (resolution_strategy in ('ON_CREATION', 'ON_DISPATCH', 'MANUAL')),
  fallback_to_commerce_rep  boolean not null default true,
  fallback_to_owner         boolean not null default true,
  priority                  integer not null default 0 check (priority between 0 and 1000000),
  is_active                 boolean not null default true,
  created_at                timestamptz not null default clock_timestamp(),
  updated_at                timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id)
);
-- The docs: priority must be unique among ACTIVE configs.
create unique index target_resolution_configs_priority_key
  on app.target_resolution_configs (tenant_id, priority) where is_active;

create table app.target_resolution_criteria (
  tenant_id        uuid not null default app.current_tenant_id(),
  id               uuid not null default gen_random_uuid(),
  config_id        uuid not null,
  criteria_type    text not null
                   check (criteria_type in ('ROLE_MATCH', 'LAST_CONTACTED_SAME_CHANNEL', 'LAST_CONTACTED_ALL_CHANNELS')),
  criteria_config  jsonb not null default '{}' check (jsonb_typeof(criteria_config) = 'object'),
  priority         integer not null default 0,
  created_at       timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, config_id) references app.target_resolution_configs (tenant_id, id) on delete cascade
);
create index target_resolution_criteria_config_idx on app.target_resolution_criteria (tenant_id, config_id, priority);

create table app.attribute_policies (
  tenant_id         uuid not null default app.current_tenant_id() references app.tenants (id),
  id                uuid not null default gen_random_uuid(),
  attribute_key_id  uuid not null references app.attribute_keys (id),
  strategy          text not null check (strategy in ('UPFRONT', 'ON_DISPATCH', 'CALLER_PROVIDED')),
  resolver_type     text not null check (resolver_type in ('INTERNAL_SERVICE', 'CLIENT_HOOK', 'CALLER_PROVIDED')),
  hook_url          text check (length(hook_url) <= 2048),
  created_at        timestamptz not null default clock_timestamp(),
  updated_at        timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  check (resolver_type <> 'CLIENT_HOOK' or hook_url is not null)
);
create unique index attribute_policies_key_key on app.attribute_policies (tenant_id, attribute_key_id);

create table app.activities (
  tenant_id                 uuid not null default app.current_tenant_id() references app.tenants (id),
  id                        uuid not null default gen_random_uuid(),
  type                      text not null check (type in ('TASK', 'MESSAGE')),
  channel                   text not null
                            check (channel in ('SALESMAN', 'CALLCENTER', 'WHATSAPP', 'EMAIL', 'SMS', 'PUSH')),
  status                    text not null
                            check (status in ('READY', 'UNRESOLVED', 'DISPATCHED', 'COMPLETED', 'CANCELED', 'FAILED')),
  reason                    text not null check (length(reason) between 1 and 255),
  user_status               text check (length(user_status) between 1 and 255),
  score                     integer,
  idempotency_key           text not null check (idempotency_key ~ '^[\x20-\x7e]{1,255}$'),
  scheduled_at              timestamptz not null,
  suggested_execution_time  timestamptz,
  assignment_reason         text check (length(assignment_reason) <= 1000),
  commerce_id               uuid not null,
  route_id                  uuid,
  operator_id               uuid,
  -- The create request's target_criteria override (null: the tenant's config), kept for retries and
  -- for ON_DISPATCH resolution.
  target_criteria           jsonb check (jsonb_typeof(target_criteria) = 'array'),
  provider_activity_id      text check (length(provider_activity_id) between 1 and 255),
  dispatch_attempt_count    integer not null default 0 check (dispatch_attempt_count >= 0),
  last_error                text,
  cancel_reason             text check (length(cancel_reason) <= 1000),
  created_at                timestamptz not null default clock_timestamp(),
  updated_at                timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  -- Commerces, routes and operators are soft-deleted by the API; a hard delete (operations only) takes
  -- the commerce's activities with it and unlinks a route or operator.
  foreign key (tenant_id, commerce_id) references app.commerces (tenant_id, id) on delete cascade,
  foreign key (tenant_id, route_id) references app.routes (tenant_id, id) on delete set null (route_id),
  foreign key (tenant_id, operator_id) references app.operators (tenant_id, id) on delete set null (operator_id)
);
-- Idempotency (CONTRACT.md §5): the create is INSERT ... ON CONFLICT DO NOTHING against this index.
create unique index activities_idempotency_key on app.activities (tenant_id, idempotency_key);
-- List order, keyset cursor and the scheduled_from/to range: (scheduled_at, id) within the tenant, also
-- per status and per commerce (the two filters admin screens and integrations use most).
create index activities_scheduled_idx on app.activities (tenant_id, scheduled_at, id);
create index activities_status_scheduled_idx on app.activities (tenant_id, status, scheduled_at, id);
create index activities_commerce_scheduled_idx on app.activities (tenant_id, commerce_id, scheduled_at, id);
-- LAST_CONTACTED_* target criteria: the latest completed activity of a commerce (on a channel) is the
-- first entry here, however many activities the commerce has.
create index activities_completed_idx on app.activities (tenant_id, commerce_id, updated_at desc, id desc)
  include (channel) where status = 'COMPLETED';
-- Result matching by the provider's id (not unique: two providers may reuse an id; the newest wins).
create index activities_provider_activity_idx on app.activities (tenant_id, provider_activity_id)
  where provider_activity_id is not null;
-- Deleting a route or operator must not be blocked by a full scan of activities.
create index activities_route_idx on app.activities (tenant_id, route_id) where route_id is not null;
create index activities_operator_idx on app.activities (tenant_id, operator_id) where operator_id is not null;

create table app.activity_status_events (
  tenant_id      uuid not null default app.current_tenant_id(),
  id             uuid not null default gen_random_uuid(),
  -- Order of events within an activity (several can share a clock tick in one statement).
  seq            bigint generated always as identity,
  activity_id    uuid not null,
  event_type     text not null check (event_type in (
                   'CREATED', 'RESOLUTION_FAILED', 'RESOLUTION_RETRY_SUCCESS', 'RESOLUTION_RETRY_FAILED',
                   'DISPATCH_SUCCESS', 'DISPATCH_FAILED', 'RESULT_RECEIVED', 'CANCELED')),
  from_status    text,
  to_status      text not null,
  error_code     text check (length(error_code) <= 255),
  error_message  text check (length(error_message) <= 4000),
  occurred_at    timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, activity_id) references app.activities (tenant_id, id) on delete cascade
);
create index activity_status_events_activity_idx on app.activity_status_events (tenant_id, activity_id, seq);

create table app.activity_target_users (
  tenant_id            uuid not null default app.current_tenant_id(),
  id                   uuid not null default gen_random_uuid(),
  activity_id          uuid not null,
  commerce_user_id     uuid,
  resolution_status    text not null check (resolution_status in ('PENDING', 'RESOLVED', 'LOCKED', 'FAILED')),
  resolution_strategy  text not null check (resolution_strategy in ('ON_CREATION', 'ON_DISPATCH', 'MANUAL')),
  lock_reason          text check (lock_reason in
                         ('CRITERIA_MATCH', 'FALLBACK_COMMERCE_REP', 'FALLBACK_OWNER', 'MANUAL_ASSIGNMENT')),
  error_message        text check (length(error_message) <= 4000),
  resolved_at          timestamptz,
  locked_at            timestamptz,
  created_at           timestamptz not null default clock_timestamp(),
  updated_at           timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, activity_id) references app.activities (tenant_id, id) on delete cascade,
  foreign key (tenant_id, commerce_user_id) references app.commerce_users (tenant_id, id) on delete cascade,
  check ((resolution_status in ('RESOLVED', 'LOCKED')) = (commerce_user_id is not null))
);
create index activity_target_users_activity_idx on app.activity_target_users (tenant_id, activity_id);
-- LAST_CONTACTED_* criteria look up the target of a commerce's latest completed activity.
create index activity_target_users_user_idx on app.activity_target_users (tenant_id, commerce_user_id)
  where commerce_user_id is not null;

create table app.activity_attributes (
  tenant_id          uuid not null default app.current_tenant_id(),
  id                 uuid not null default gen_random_uuid(),
  activity_id        uuid not null,
  attribute_key_id   uuid not null references app.attribute_keys (id),
  -- When the value is resolved (the key's policy at create time) and by what.
  strategy           text not null check (strategy in ('UPFRONT', 'ON_DISPATCH', 'CALLER_PROVIDED')),
  resolver_type      text not null check (resolver_type in ('INTERNAL_SERVICE', 'CLIENT_HOOK', 'CALLER_PROVIDED')),
  hook_url           text,
  value              jsonb,
  -- The caller's fallback (attributes[].fallback), used when resolution fails (now or on retry).
  fallback           jsonb,
  resolution_status  text not null check (resolution_status in ('PENDING', 'RESOLVED', 'FAILED', 'FALLBACK')),
  resolved_at        timestamptz,
  error_message      text check (length(error_message) <= 4000),
  created_at         timestamptz not null default clock_timestamp(),
  updated_at         timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, activity_id) references app.activities (tenant_id, id) on delete cascade
);
create unique index activity_attributes_key_key on app.activity_attributes (tenant_id, activity_id, attribute_key_id);

create table app.activity_results (
  tenant_id             uuid not null default app.current_tenant_id(),
  id                    uuid not null default gen_random_uuid(),
  activity_id           uuid,
  commerce_id           uuid not null,
  source                text not null check (source in ('RETEN_ACTIVITY', 'STANDALONE')),
  status                text not null check (status in
                          ('PENDING', 'COMPLETED', 'NOT_EXECUTED', 'CANCELED', 'TRANSFERRED', 'EFFECTIVE', 'NOT_EFFECTIVE')),
  external_status       text check (length(external_status) <= 255),
  provider_activity_id  text check (length(provider_activity_id) <= 255),
  occurred_at           timestamptz not null,
  result                text not null,
  comment               text check (length(comment) <= 4000),
  contact_type          text check (contact_type in ('INBOUND', 'OUTBOUND')),
  operator_external_id  text check (length(operator_external_id) <= 255),
  future_scheduled_at   timestamptz,
  payload               jsonb,
  raw_payload           jsonb,
  created_at            timestamptz not null default clock_timestamp(),
  updated_at            timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, activity_id) references app.activities (tenant_id, id) on delete cascade,
  foreign key (tenant_id, commerce_id) references app.commerces (tenant_id, id) on delete cascade,
  check ((source = 'STANDALONE') = (activity_id is null))
);
-- One stored result per activity: a PENDING result is replaced by the next, a terminal one only by
-- hard_override (CONTRACT.md §6).
create unique index activity_results_activity_key on app.activity_results (tenant_id, activity_id)
  where activity_id is not null;
create index activity_results_commerce_idx on app.activity_results (tenant_id, commerce_id, created_at, id);

do $$
declare
  t text;
begin
  foreach t in array array['task_result_types', 'target_resolution_configs', 'target_resolution_criteria',
                           'attribute_policies', 'activities', 'activity_status_events',
                           'activity_target_users', 'activity_attributes', 'activity_results']
  loop
    execute format('alter table app.%I enable row level security', t);
    execute format('alter table app.%I force row level security', t);
    execute format('create policy tenant_isolation on app.%I for all
                      using (tenant_id = (select app.current_tenant_id()))
                      with check (tenant_id = (select app.current_tenant_id()))', t);
    execute format('grant select, insert, update, delete on app.%I to reten_app', t);
  end loop;
end $$;
