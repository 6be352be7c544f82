-- Identity: tenants and users (global), memberships and API keys (tenant tables), refresh tokens (global).

-- Global: one row per tenant. Reached by the service only as reten_identity (identity routes) and
-- through reten_auth's lookups.
create table app.tenants (
  id          uuid primary key default gen_random_uuid(),
  name        text not null check (length(name) between 1 and 255),
  slug        text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 100),
  is_active   boolean not null default true,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create unique index tenants_slug_key on app.tenants (slug);

-- Global: platform users. Email unique case-insensitively; username optional and unique.
create table app.users (
  id             uuid primary key default gen_random_uuid(),
  email          text not null check (length(email) between 3 and 255),
  username       text check (length(username) between 1 and 255),
  password_hash  text not null,
  first_name     text not null default '' check (length(first_name) <= 255),
  last_name      text not null default '' check (length(last_name) <= 255),
  roles          text[] not null default '{}'
                 check (roles <@ array['SUPER_ADMIN', 'ADMIN', 'FDE', 'VIEWER']::text[]),
  is_active      boolean not null default true,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
create unique index users_email_key on app.users (lower(email));
create unique index users_username_key on app.users (lower(username)) where username is not null;

-- Tenant table: which users belong to which tenant.
create table app.tenant_memberships (
  tenant_id   uuid not null default app.current_tenant_id() references app.tenants (id),
  user_id     uuid not null references app.users (id) on delete cascade,
  created_at  timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
create index tenant_memberships_user_idx on app.tenant_memberships (user_id);

alter table app.tenant_memberships enable row level security;
alter table app.tenant_memberships force row level security;
create policy tenant_isolation on app.tenant_memberships for all
  using (tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));

-- Global: refresh-token families (the jti of each refresh JWT). Rotation marks the old row used; a used
-- row presented again revokes its whole family.
create table app.refresh_tokens (
  id           uuid primary key,
  family_id    uuid not null,
  user_id      uuid not null references app.users (id) on delete cascade,
  expires_at   timestamptz not null,
  created_at   timestamptz not null default now(),
  used_at      timestamptz,
  revoked_at   timestamptz
);
create index refresh_tokens_family_idx on app.refresh_tokens (family_id);
create index refresh_tokens_user_idx on app.refresh_tokens (user_id);

-- Tenant table: API keys. Only the SHA-256 digest of the key is stored.
create table app.api_keys (
  tenant_id     uuid not null default app.current_tenant_id() references app.tenants (id),
  id            uuid not null default gen_random_uuid(),
  user_id       uuid not null references app.users (id),
  name          text not null check (length(name) between 1 and 255),
  key_prefix    text not null check (length(key_prefix) = 15),
  key_digest    bytea not null check (length(key_digest) = 32),
  permissions   text[] not null check (cardinality(permissions) >= 1),
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  created_at    timestamptz not null default now(),
  primary key (tenant_id, id)
);
create unique index api_keys_tenant_digest_key on app.api_keys (tenant_id, key_digest);
-- The pre-tenant lookup (digest -> tenant) probes this index through app.api_key_principal().
create index api_keys_digest_idx on app.api_keys (key_digest);
create index api_keys_user_idx on app.api_keys (tenant_id, user_id, created_at desc, id desc);

alter table app.api_keys enable row level security;
alter table app.api_keys force row level security;
create policy tenant_isolation on app.api_keys for all
  using (tenant_id = (select app.current_tenant_id()))
  with check (tenant_id = (select app.current_tenant_id()));

-- reten_auth's lookups run before a tenant is known: they may read (and touch last_used_at) across
-- tenants. These are the only `using (true)` policies; a catalog test keeps it that way.
create policy auth_lookup on app.api_keys for select to reten_auth using (true);
create policy auth_touch on app.api_keys for update to reten_auth using (true) with check (true);
create policy auth_lookup on app.tenant_memberships for select to reten_auth using (true);

-- Grants. The service role: tenant tables only. Identity role: the global identity tables plus the
-- memberships it maintains (still under RLS). reten_auth: exactly what its functions read.
grant select, insert, update, delete on app.tenant_memberships, app.api_keys to reten_app;
grant select, insert, update, delete on app.tenants, app.users, app.refresh_tokens,
  app.tenant_memberships to reten_identity;
grant select on app.api_keys, app.tenant_memberships, app.tenants, app.users to reten_auth;
grant update (last_used_at) on app.api_keys to reten_auth;

-- API key digest -> principal, across tenants (the key decides the tenant). Touches last_used_at at most
-- once a minute. Returns nothing for an unknown digest; the caller checks revoked/expired/active flags so
-- it can cache the row and re-check expiry on every use.
create function app.api_key_principal(p_digest bytea)
  returns table (tenant_id uuid, key_id uuid, user_id uuid, permissions text[], creator_roles text[],
                 expires_at timestamptz, revoked_at timestamptz, tenant_active boolean,
                 user_active boolean, creator_is_member boolean)
  language sql volatile security definer
  set search_path = ''
  as $$
    with key as (
      select k.tenant_id, k.id, k.user_id, k.permissions, k.expires_at, k.revoked_at
        from app.api_keys k
       where k.key_digest = p_digest
    ), touched as (
      update app.api_keys k
         set last_used_at = now()
        from key
       where k.tenant_id = key.tenant_id and k.id = key.id
         and key.revoked_at is null
         and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute')
      returning k.id
    )
    select key.tenant_id, key.id, key.user_id, key.permissions, u.roles, key.expires_at,
           key.revoked_at, t.is_active, u.is_active,
           exists (select 1 from app.tenant_memberships m
                    where m.tenant_id = key.tenant_id and m.user_id = key.user_id)
      from key
      join app.tenants t on t.id = key.tenant_id
      join app.users u on u.id = key.user_id
  $$;

-- A JWT user's standing for this request: active flag, roles, and (when a tenant is named) whether the
-- tenant exists and is active and whether the user is a member. Read fresh on every request.
create function app.user_principal(p_user_id uuid, p_tenant_id uuid)
  returns table (user_active boolean, roles text[], tenant_active boolean, is_member boolean)
  language sql stable security definer
  set search_path = ''
  as $$
    select u.is_active, u.roles,
           (select t.is_active from app.tenants t where t.id = p_tenant_id),
           exists (select 1 from app.tenant_memberships m
                    where m.tenant_id = p_tenant_id and m.user_id = p_user_id)
      from app.users u
     where u.id = p_user_id
  $$;

-- The active tenants a user belongs to (GET /api/tenant/mine, /api/auth/me, ADMIN's tenant list).
create function app.user_tenants(p_user_id uuid)
  returns table (id uuid, name text, slug text, is_active boolean, created_at timestamptz)
  language sql stable security definer
  set search_path = ''
  as $$
    select t.id, t.name, t.slug, t.is_active, t.created_at
      from app.tenant_memberships m
      join app.tenants t on t.id = m.tenant_id
     where m.user_id = p_user_id
     order by t.created_at, t.id
  $$;

-- Grants first, while reten_owner still owns the functions (after the hand-over it could no longer
-- change them: its membership in reten_auth does not inherit). PUBLIC gets nothing.
revoke execute on function app.api_key_principal(bytea), app.user_principal(uuid, uuid),
  app.user_tenants(uuid) from public;
grant execute on function app.api_key_principal(bytea), app.user_principal(uuid, uuid),
  app.user_tenants(uuid) to reten_app, reten_identity;

-- ALTER OWNER needs the new owner to hold CREATE on the schema for the moment of the change.
grant create on schema app to reten_auth;
alter function app.api_key_principal(bytea) owner to reten_auth;
alter function app.user_principal(uuid, uuid) owner to reten_auth;
alter function app.user_tenants(uuid) owner to reten_auth;
revoke create on schema app from reten_auth;
