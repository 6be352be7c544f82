-- name: api_key_principal(digest)^
-- API key digest -> tenant, permissions, creator standing (SECURITY DEFINER lookup, across tenants).
select tenant_id, key_id, user_id, permissions, creator_roles, creator_is_super_admin, expires_at,
       revoked_at, tenant_active, user_active, creator_is_member
  from app.api_key_principal(:digest::bytea);

-- name: user_principal(user_id, tenant_id)^
-- A JWT user's active flag, platform flag, its roles in the named tenant and membership of it (null
-- tenant: none asked, and the roles are the union over its active tenants).
select user_active, is_super_admin, roles, tenant_active, is_member
  from app.user_principal(:user_id::uuid, :tenant_id::uuid);

-- name: user_tenants(user_id)
-- The tenants a user belongs to, with its roles in each (across tenants, SECURITY DEFINER lookup).
select id, name, slug, is_active, created_at, roles
  from app.user_tenants(:user_id::uuid);
