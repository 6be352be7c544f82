-- name: get_for_login(identifier)^
-- Login lookup by email or username, case-insensitively.
select id, email, first_name, last_name, password_hash, is_active
  from app.users
 where lower(email) = lower(:identifier) or lower(username) = lower(:identifier)
 order by (lower(email) = lower(:identifier)) desc
 limit 1;

-- name: get_by_id(id)^
-- One user by id (global identity table).
select id, email, username, first_name, last_name, is_super_admin, is_active, password_hash
  from app.users
 where id = :id;

-- name: get_by_email(email)^
-- One user by email, case-insensitively.
select id, email, username, first_name, last_name, is_super_admin, is_active
  from app.users
 where lower(email) = lower(:email);

-- name: insert_user(email, username, password_hash, first_name, last_name, is_super_admin)^
-- Create a platform user (its roles are held per membership; SUPER_ADMIN is the platform flag).
insert into app.users (email, username, password_hash, first_name, last_name, is_super_admin)
values (:email, :username, :password_hash, :first_name, :last_name, :is_super_admin)
returning id, email, username, first_name, last_name, is_super_admin, is_active;

-- name: set_password(id, password_hash)$
-- Replace a user's password hash; returns the id, or null when there is no such user.
update app.users set password_hash = :password_hash, updated_at = now()
 where id = :id
returning id;

-- name: set_roles(tenant_id, user_id, roles)^
-- Replace a member's roles in this tenant only; null when the user is not a member of it.
update app.tenant_memberships set roles = :roles::text[]
 where tenant_id = :tenant_id and user_id = :user_id
returning user_id as id, roles;

-- name: add_membership(tenant_id, user_id, roles)$
-- Make a user a member of a tenant with these roles; null (and nothing changed) when it already is one.
insert into app.tenant_memberships (tenant_id, user_id, roles)
values (:tenant_id, :user_id, :roles::text[])
on conflict (tenant_id, user_id) do nothing
returning user_id;

-- name: remove_membership(tenant_id, user_id)$
-- Remove a user from a tenant; returns the user id, or null when it was not a member.
delete from app.tenant_memberships
 where tenant_id = :tenant_id and user_id = :user_id
returning user_id;

-- name: get_member(tenant_id, user_id)^
-- A user of the tenant by id (null when the user is not a member of this tenant). `roles` are what the
-- user holds in this tenant: its membership's roles, led by SUPER_ADMIN for a platform admin.
select u.id, u.email, u.first_name, u.last_name, u.is_active,
       case when u.is_super_admin then array['SUPER_ADMIN'] || m.roles else m.roles end as roles
  from app.tenant_memberships m
  join app.users u on u.id = m.user_id
 where m.tenant_id = :tenant_id and m.user_id = :user_id;

-- name: list_members(tenant_id, limit, offset)
-- A page of the tenant's users, oldest first, each with its roles in this tenant (as get_member).
select u.id, u.email, u.first_name, u.last_name,
       case when u.is_super_admin then array['SUPER_ADMIN'] || m.roles else m.roles end as roles
  from app.tenant_memberships m
  join app.users u on u.id = m.user_id
 where m.tenant_id = :tenant_id
 order by m.created_at, u.id
 limit :limit offset :offset;

-- name: count_members(tenant_id)$
-- How many users the tenant has.
select count(*) from app.tenant_memberships m where m.tenant_id = :tenant_id;
