-- Roles per tenant membership (CONTRACT.md §2, revised). Until now roles lived on the global users row, so
-- a role change or a tenant setup made in tenant A changed what a user could do in tenant B. From here on:
--   tenant_memberships.roles   ADMIN, FDE, VIEWER: what the user may do in that tenant, and only there;
--   users.is_super_admin       the one platform role (granted by the bootstrap command or a SUPER_ADMIN).
-- Today's data moves as it stands: each user's tenant roles are copied onto each of its memberships, so
-- every user keeps exactly the permissions it had in every tenant; SUPER_ADMIN becomes the flag. The global
-- column is dropped, so no code path can read the old meaning.

alter table app.tenant_memberships
  add column roles text[] not null default '{}'
    check (roles <@ array['ADMIN', 'FDE', 'VIEWER']::text[]);
alter table app.users add column is_super_admin boolean not null default false;

-- The owner is subject to the memberships' forced RLS too (no tenant context here): lift it for this one
-- statement of this transaction.
alter table app.tenant_memberships no force row level security;
update app.tenant_memberships m
   set roles = array(select r.role
                       from unnest(array['ADMIN', 'FDE', 'VIEWER']) with ordinality as r (role, n)
                      where r.role = any (u.roles)
                      order by r.n)
  from app.users u
 where u.id = m.user_id;
alter table app.tenant_memberships force row level security;

update app.users set is_super_admin = true where 'SUPER_ADMIN' = any (roles);

-- The login identifier must name one user: usernames may not contain '@' (every email does), so no
-- username can equal any email. An existing username with '@' is cleared; its user logs in by email.
update app.users set username = null where username like '%@%';
alter table app.users add constraint users_username_not_email check (strpos(username, '@') = 0);

-- The three lookups change their result types: drop them (as their owner, reten_auth), drop the column
-- they read, and create them again below.
set local role reten_auth;
drop function app.api_key_principal(bytea);
drop function app.user_principal(uuid, uuid);
drop function app.user_tenants(uuid);
reset role;

alter table app.users drop column roles;

-- API key digest -> principal, across tenants (the key decides the tenant). The creator's standing is read
-- in the key's tenant only: its roles there (null when it is no longer a member) and the platform flag.
-- Touches last_used_at at most once a minute. The caller checks the flags, so it can cache the row.
create function app.api_key_principal(p_digest bytea)
  returns table (tenant_id uuid, key_id uuid, user_id uuid, permissions text[], creator_roles text[],
                 creator_is_super_admin boolean, expires_at timestamptz, revoked_at timestamptz,
                 tenant_active boolean, user_active boolean, creator_is_member boolean)
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
    select key.tenant_id, key.id, key.user_id, key.permissions, m.roles, u.is_super_admin,
           key.expires_at, key.revoked_at, t.is_active, u.is_active, m.user_id is not null
      from key
      join app.tenants t on t.id = key.tenant_id
      join app.users u on u.id = key.user_id
      left join app.tenant_memberships m on m.tenant_id = key.tenant_id and m.user_id = key.user_id
  $$;

-- A JWT user's standing for this request, read fresh on every request. With a tenant: the roles of its
-- membership there (empty when not a member), whether it is a member, and whether the tenant is active.
-- Without one (routes that act in no tenant): the union of its roles over its active tenants.
create function app.user_principal(p_user_id uuid, p_tenant_id uuid)
  returns table (user_active boolean, is_super_admin boolean, roles text[], tenant_active boolean,
                 is_member boolean)
  language sql stable security definer
  set search_path = ''
  as $$
    select u.is_active, u.is_super_admin,
           case when p_tenant_id is null
                then array(select distinct r.role
                             from app.tenant_memberships m
                             join app.tenants t on t.id = m.tenant_id and t.is_active
                             cross join unnest(m.roles) as r (role)
                            where m.user_id = p_user_id
                            order by r.role)
                else coalesce(m.roles, '{}')
           end,
           t.is_active,
           m.user_id is not null
      from app.users u
      left join app.tenants t on t.id = p_tenant_id
      left join app.tenant_memberships m on m.tenant_id = p_tenant_id and m.user_id = u.id
     where u.id = p_user_id
  $$;

-- The tenants a user belongs to, with its roles in each (GET /api/tenant/mine, /api/auth/me, ADMIN's tenant
-- list, and the "outranks the target in every tenant" check of user administration).
create function app.user_tenants(p_user_id uuid)
  returns table (id uuid, name text, slug text, is_active boolean, created_at timestamptz, roles text[])
  language sql stable security definer
  set search_path = ''
  as $$
    select t.id, t.name, t.slug, t.is_active, t.created_at, m.roles
      from app.tenant_memberships m
      join app.tenants t on t.id = m.tenant_id
     where m.user_id = p_user_id
     order by t.created_at, t.id
  $$;

revoke execute on function app.api_key_principal(bytea), app.user_principal(uuid, uuid),
  app.user_tenants(uuid) from public;
grant execute on function app.api_key_principal(bytea), app.user_principal(uuid, uuid),
  app.user_tenants(uuid) to reten_app, reten_identity;

grant create on schema app to reten_auth;
alter function app.api_key_principal(bytea) owner to reten_auth;
alter function app.user_principal(uuid, uuid) owner to reten_auth;
alter function app.user_tenants(uuid) owner to reten_auth;
revoke create on schema app from reten_auth;
