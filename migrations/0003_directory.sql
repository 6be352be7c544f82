-- Directory: commerces (with their addresses, people, roles and contacts), operators, routes and the
-- route <-> operator links. Every table is a tenant table: tenant_id leads every key, RLS is forced,
-- and every reference is a composite (tenant_id, id) foreign key, so no row can point into another tenant.
-- created_at (and updated_at) default to clock_timestamp(), so rows written by one bulk statement list in
-- the order sent.

-- Trigram indexes serve the `search` filters (ILIKE '%term%'). pg_trgm is a trusted extension; it lives in
-- its own schema so nothing in `app` or `public` changes.
create schema if not exists ext authorization reten_owner;
create extension if not exists pg_trgm with schema ext;

-- Output timestamps as the API prints them (UTC, milliseconds, Z), for JSON built in SQL.
create function app.iso_ms(t timestamptz) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$ select pg_catalog.to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
grant execute on function app.iso_ms(timestamptz) to reten_app;

create table app.commerces (
  tenant_id           uuid not null default app.current_tenant_id() references app.tenants (id),
  id                  uuid not null default gen_random_uuid(),
  external_id         text not null check (length(external_id) between 1 and 255),
  name                text not null check (length(name) between 1 and 255),
  global_external_id  text check (length(global_external_id) between 1 and 255),
  tax_id              text check (length(tax_id) between 1 and 255),
  is_active           boolean not null default true,
  is_placeholder      boolean not null default false,
  metadata            jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_at          timestamptz not null default clock_timestamp(),
  updated_at          timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id)
);
create unique index commerces_external_id_key on app.commerces (tenant_id, external_id);
create unique index commerces_tax_id_key on app.commerces (tenant_id, tax_id) where tax_id is not null;
create index commerces_global_external_id_idx on app.commerces (tenant_id, global_external_id)
  where global_external_id is not null;
-- List order and keyset cursor: (created_at, id) within the tenant.
create index commerces_created_idx on app.commerces (tenant_id, created_at, id);
create index commerces_name_trgm_idx on app.commerces using gin (name ext.gin_trgm_ops);
create index commerces_external_id_trgm_idx on app.commerces using gin (external_id ext.gin_trgm_ops);

create table app.commerce_addresses (
  tenant_id          uuid not null default app.current_tenant_id(),
  id                 uuid not null default gen_random_uuid(),
  commerce_id        uuid not null,
  source             text not null check (source in ('RETEN', 'INTEGRATION')),
  source_ref         text check (length(source_ref) between 1 and 255),
  address_alias      text check (length(address_alias) <= 255),
  street             text check (length(street) <= 255),
  street_number      text check (length(street_number) <= 64),
  unit               text check (length(unit) <= 64),
  city               text check (length(city) <= 255),
  commune            text check (length(commune) <= 255),
  region             text check (length(region) <= 255),
  country_code       text check (length(country_code) between 2 and 3),
  formatted_address  text check (length(formatted_address) <= 1000),
  latitude           double precision check (latitude between -90 and 90),
  longitude          double precision check (longitude between -180 and 180),
  is_primary         boolean not null default false,
  is_active          boolean not null default true,
  created_at         timestamptz not null default clock_timestamp(),
  updated_at         timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, commerce_id) references app.commerces (tenant_id, id) on delete cascade,
  check (not (is_primary and not is_active))
);
create unique index commerce_addresses_source_ref_key on app.commerce_addresses (tenant_id, commerce_id, source_ref)
  where source_ref is not null;
-- One primary address per commerce (setting a new primary clears the old one first).
create unique index commerce_addresses_primary_key on app.commerce_addresses (tenant_id, commerce_id)
  where is_primary;
create index commerce_addresses_commerce_idx on app.commerce_addresses (tenant_id, commerce_id, created_at, id);

-- The people of a commerce (not platform users).
create table app.commerce_users (
  tenant_id    uuid not null default app.current_tenant_id(),
  id           uuid not null default gen_random_uuid(),
  commerce_id  uuid not null,
  external_id  text check (length(external_id) between 1 and 255),
  first_name   text not null default '' check (length(first_name) <= 255),
  last_name    text not null default '' check (length(last_name) <= 255),
  source       text check (source in ('RETEN', 'INTEGRATION')),
  is_active    boolean not null default true,
  created_at   timestamptz not null default clock_timestamp(),
  updated_at   timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, commerce_id) references app.commerces (tenant_id, id) on delete cascade
);
create unique index commerce_users_external_id_key on app.commerce_users (tenant_id, commerce_id, external_id)
  where external_id is not null;
create index commerce_users_commerce_idx on app.commerce_users (tenant_id, commerce_id, created_at, id);

create table app.commerce_user_roles (
  tenant_id         uuid not null default app.current_tenant_id(),
  commerce_user_id  uuid not null,
  role              text not null
                    check (role in ('OWNER', 'ORDERS', 'FINANCE', 'ATTENTION', 'ADMIN', 'COMMERCE_REP', 'OTHER')),
  created_at        timestamptz not null default clock_timestamp(),
  primary key (tenant_id, commerce_user_id, role),
  foreign key (tenant_id, commerce_user_id) references app.commerce_users (tenant_id, id) on delete cascade
);
-- Target resolution (activities) looks people up by role.
create index commerce_user_roles_role_idx on app.commerce_user_roles (tenant_id, role, commerce_user_id);

create table app.commerce_user_contacts (
  tenant_id         uuid not null default app.current_tenant_id(),
  id                uuid not null default gen_random_uuid(),
  commerce_user_id  uuid not null,
  contact_type      text not null check (contact_type in ('PHONE', 'EMAIL', 'WHATSAPP', 'OTHER')),
  value             text not null check (length(value) between 1 and 255),
  source            text not null check (source in ('RETEN', 'INTEGRATION')),
  is_primary        boolean not null default false,
  is_active         boolean not null default true,
  created_at        timestamptz not null default clock_timestamp(),
  updated_at        timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id),
  foreign key (tenant_id, commerce_user_id) references app.commerce_users (tenant_id, id) on delete cascade,
  check (not (is_primary and not is_active))
);
create unique index commerce_user_contacts_value_key
  on app.commerce_user_contacts (tenant_id, commerce_user_id, contact_type, value);
-- One primary contact per type per person.
create unique index commerce_user_contacts_primary_key
  on app.commerce_user_contacts (tenant_id, commerce_user_id, contact_type) where is_primary;

create table app.operators (
  tenant_id       uuid not null default app.current_tenant_id() references app.tenants (id),
  id              uuid not null default gen_random_uuid(),
  type            text not null check (type in ('SALESMAN', 'ACTIVATOR', 'CALLCENTER')),
  first_name      text not null check (length(first_name) between 1 and 255),
  last_name       text not null default '' check (length(last_name) <= 255),
  email           text check (length(email) between 3 and 255),
  phone           text check (length(phone) between 1 and 64),
  external_id     text check (length(external_id) between 1 and 255),
  is_placeholder  boolean not null default false,
  is_active       boolean not null default true,
  metadata        jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_at      timestamptz not null default clock_timestamp(),
  updated_at      timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id)
);
create unique index operators_email_key on app.operators (tenant_id, lower(email)) where email is not null;
create unique index operators_type_external_id_key on app.operators (tenant_id, type, external_id)
  where external_id is not null;
create index operators_created_idx on app.operators (tenant_id, created_at, id);
create index operators_name_trgm_idx on app.operators
  using gin ((first_name || ' ' || last_name) ext.gin_trgm_ops);
create index operators_email_trgm_idx on app.operators using gin (email ext.gin_trgm_ops);

create table app.routes (
  tenant_id    uuid not null default app.current_tenant_id() references app.tenants (id),
  id           uuid not null default gen_random_uuid(),
  name         text not null check (length(name) between 1 and 255),
  code         text check (length(code) between 1 and 255),
  external_id  text check (length(external_id) between 1 and 255),
  is_active    boolean not null default true,
  metadata     jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  created_at   timestamptz not null default clock_timestamp(),
  updated_at   timestamptz not null default clock_timestamp(),
  primary key (tenant_id, id)
);
create unique index routes_code_key on app.routes (tenant_id, code) where code is not null;
create unique index routes_external_id_key on app.routes (tenant_id, external_id) where external_id is not null;
create index routes_created_idx on app.routes (tenant_id, created_at, id);

-- Route <-> operator links. Removal is a hard delete; a link turns inactive when its operator is
-- deactivated, and assigning again reactivates it.
create table app.route_operators (
  tenant_id    uuid not null default app.current_tenant_id(),
  route_id     uuid not null,
  operator_id  uuid not null,
  role         text not null default 'MEMBER' check (role in ('LEAD', 'MEMBER')),
  is_active    boolean not null default true,
  created_at   timestamptz not null default clock_timestamp(),
  updated_at   timestamptz not null default clock_timestamp(),
  primary key (tenant_id, route_id, operator_id),
  foreign key (tenant_id, route_id) references app.routes (tenant_id, id) on delete cascade,
  foreign key (tenant_id, operator_id) references app.operators (tenant_id, id) on delete cascade
);
create index route_operators_operator_idx on app.route_operators (tenant_id, operator_id);

do $$
declare
  t text;
begin
  foreach t in array array['commerces', 'commerce_addresses', 'commerce_users', 'commerce_user_roles',
                           'commerce_user_contacts', 'operators', 'routes', 'route_operators']
  loop
    execute format('alter table app.%I enable row level security', t);
    execute format('alter table app.%I force row level security', t);
    execute format('create policy tenant_isolation on app.%I for all
                      using (tenant_id = (select app.current_tenant_id()))
                      with check (tenant_id = (select app.current_tenant_id()))', t);
    execute format('grant select, insert, update, delete on app.%I to reten_app', t);
  end loop;
end $$;
