-- name: insert_api_key(tenant_id, user_id, name, key_prefix, key_digest, permissions, expires_at)^
-- Store a new key (digest only) for a user in the tenant.
insert into app.api_keys (tenant_id, user_id, name, key_prefix, key_digest, permissions, expires_at)
values (:tenant_id, :user_id, :name, :key_prefix, :key_digest, :permissions::text[], :expires_at)
returning id, tenant_id, user_id, name, key_prefix, permissions, expires_at, last_used_at,
          revoked_at, created_at;

-- name: list_user_api_keys(tenant_id, user_id)
-- The user's keys in the tenant, newest first, revoked ones included.
select id, tenant_id, user_id, name, key_prefix, permissions, expires_at, last_used_at, revoked_at,
       created_at
  from app.api_keys
 where tenant_id = :tenant_id and user_id = :user_id
 order by created_at desc, id desc;

-- name: get_api_key(tenant_id, id)^
-- One key of the tenant.
select id, tenant_id, user_id, name, key_prefix, permissions, expires_at, last_used_at, revoked_at,
       created_at
  from app.api_keys
 where tenant_id = :tenant_id and id = :id;

-- name: revoke_api_key(tenant_id, id)$
-- Revoke an active key; returns its id, or null when it was already revoked.
update app.api_keys set revoked_at = now()
 where tenant_id = :tenant_id and id = :id and revoked_at is null
returning id;

-- name: list_tenant_api_keys(tenant_id)
-- Every key of the tenant, whoever created it, newest first, revoked ones included (ADMIN's view).
select id, tenant_id, user_id, name, key_prefix, permissions, expires_at, last_used_at, revoked_at,
       created_at
  from app.api_keys
 where tenant_id = :tenant_id
 order by created_at desc, id desc;

-- name: revoke_user_api_keys(tenant_id, user_id)
-- Revoke every active key a user created in the tenant (the user left it); returns their ids.
update app.api_keys set revoked_at = now()
 where tenant_id = :tenant_id and user_id = :user_id and revoked_at is null
returning id;
