-- name: get_for_login(identifier)^
-- Login lookup by email or username, case-insensitively.
select id, email, first_name, last_name, password_hash, is_active
  from app.users
 where lower(email) = lower(:identifier) or lower(username) = lower(:identifier)
 order by (lower(email) = lower(:identifier)) desc
 limit 1;

-- name: get_by_id(id)^
-- One user by id (global identity table).
select id, email, username, first_name, last_name, roles, is_active, password_hash
  from app.users
 where id = :id;

-- name: get_by_email(email)^
-- One user by email, case-insensitively.
select id, email, username, first_name, last_name, roles, is_active
  from app.users
 where lower(email) = lower(:email);

-- name: insert_user(email, username, password_hash, first_name, last_name, roles)^
-- Create a platform user.
insert into app.users (email, username, password_hash, first_name, last_name, roles)
values (:email, :username, :password_hash, :first_name, :last_name, :roles::text[])
returning id, email, username, first_name, last_name, roles, is_active;

-- name: set_password(id, password_hash)$
-- Replace a user's password hash; returns the id, or null when there is no such user.
update app.users set password_hash = :password_hash, updated_at = now()
 where id = :id
returning id;

-- name: set_roles(id, roles)^
-- Replace a user's roles.
update app.users set roles = :roles::text[], updated_at = now()
 where id = :id
returning id, roles;

-- name: add_membership(tenant_id, user_id)!
-- Make a user a member of a tenant (idempotent).
insert into app.tenant_memberships (tenant_id, user_id)
values (:tenant_id, :user_id)
on conflict (tenant_id, user_id) do nothing;

-- name: remove_membership(tenant_id, user_id)$
-- Remove a user from a tenant; returns the user id, or null when it was not a member.
delete from app.tenant_memberships
 where tenant_id = :tenant_id and user_id = :user_id
returning user_id;

-- name: get_member(tenant_id, user_id)^
-- A user of the tenant by id (null when the user is not a member of this tenant).
select u.id, u.email, u.first_name, u.last_name, u.roles, u.is_active
  from app.tenant_memberships m
  join app.users u on u.id = m.user_id
 where m.tenant_id = :tenant_id and m.user_id = :user_id;

-- name: list_members(tenant_id, limit, offset)
-- A page of the tenant's users, oldest first.
select u.id, u.email, u.first_name, u.last_name, u.roles
  from app.tenant_memberships m
  join app.users u on u.id = m.user_id
 where m.tenant_id = :tenant_id
 order by m.created_at, u.id
 limit :limit offset :offset;

-- name: count_members(tenant_id)$
-- How many users the tenant has.
select count(*) from app.tenant_memberships m where m.tenant_id = :tenant_id;
