-- name: insert_tenant(id, name, slug)^
-- Create a tenant (the id is made by the caller so the tenant context can be set before seeding).
insert into app.tenants (id, name, slug)
values (:id, :name, :slug)
returning id, name, slug, is_active, created_at;

-- name: list_tenants()
-- Every tenant, oldest first (SUPER_ADMIN's view).
select id, name, slug, is_active, created_at
  from app.tenants
 order by created_at, id;

-- name: get_tenant(id)^
-- One tenant by id.
select id, name, slug, is_active, created_at
  from app.tenants
 where id = :id;

-- name: update_tenant(id, name, slug, is_active)^
-- Change name, slug or active flag; null leaves a field as it is.
update app.tenants
   set name = coalesce(:name::text, name),
       slug = coalesce(:slug::text, slug),
       is_active = coalesce(:is_active::boolean, is_active),
       updated_at = now()
 where id = :id
returning id, name, slug, is_active, created_at;
