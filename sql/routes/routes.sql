-- name: list_routes(tenant_id, search, is_active, after_created_at, after_id, limit, offset)
-- A page of the tenant's routes in (created_at, id) order: by offset, or after a keyset cursor.
select id, name, code, external_id, is_active, metadata, created_at, updated_at
  from app.routes
 where tenant_id = :tenant_id
   and (:search::text is null or name ilike :search or code ilike :search)
   and (:is_active::boolean is null or is_active = :is_active)
   and (:after_created_at::timestamptz is null or (created_at, id) > (:after_created_at, :after_id::uuid))
 order by created_at, id
 limit :limit offset :offset;

-- name: count_routes(tenant_id, search, is_active)$
-- How many routes the same filters match (offset mode only).
select count(*)
  from app.routes
 where tenant_id = :tenant_id
   and (:search::text is null or name ilike :search or code ilike :search)
   and (:is_active::boolean is null or is_active = :is_active);

-- name: get_route(tenant_id, id)^
-- One route of the tenant.
select id, name, code, external_id, is_active, metadata, created_at, updated_at
  from app.routes
 where tenant_id = :tenant_id and id = :id;

-- name: lock_route(tenant_id, id)^
-- One route, row-locked: PATCH merges metadata in the caller, so concurrent PATCHes must queue.
select id, name, code, external_id, is_active, metadata, created_at, updated_at
  from app.routes
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: reactivate_route(tenant_id, name, code, external_id, metadata)^
-- POST of a route whose code (or, without a code, external_id) names a soft-deleted route: bring it back
-- with the new values. Returns nothing when there is no such inactive route.
update app.routes
   set name = :name, code = :code, external_id = :external_id, metadata = metadata || :metadata::jsonb,
       is_active = true, updated_at = now()
 where tenant_id = :tenant_id and not is_active
   and (code = :code or (:code::text is null and external_id = :external_id))
returning id, name, code, external_id, is_active, metadata, created_at, updated_at;

-- name: insert_route(tenant_id, name, code, external_id, is_active, metadata)^
-- A new route.
insert into app.routes (tenant_id, name, code, external_id, is_active, metadata)
values (:tenant_id, :name, :code, :external_id, :is_active, :metadata::jsonb)
returning id, name, code, external_id, is_active, metadata, created_at, updated_at;

-- name: update_route(tenant_id, id, name, code, external_id, is_active, metadata)^
-- Write a route's editable fields (the caller has merged the PATCH into the current row).
update app.routes
   set name = :name, code = :code, external_id = :external_id, is_active = :is_active,
       metadata = :metadata::jsonb, updated_at = now()
 where tenant_id = :tenant_id and id = :id
returning id, name, code, external_id, is_active, metadata, created_at, updated_at;

-- name: list_route_operators(tenant_id, route_id)
-- The route's operator links (active and inactive) with the operator's name and type.
select l.route_id, l.operator_id, l.role, l.is_active, l.created_at, l.updated_at,
       o.first_name, o.last_name, o.type, o.email, o.is_active as operator_is_active
  from app.route_operators l
  join app.operators o on o.tenant_id = l.tenant_id and o.id = l.operator_id
 where l.tenant_id = :tenant_id and l.route_id = :route_id
 order by l.role, o.first_name, o.last_name, o.id;

-- name: assign_operator(tenant_id, route_id, operator_id, role)^
-- Link an operator to a route; an existing link is reactivated, and its role changed when one is given.
insert into app.route_operators as l (tenant_id, route_id, operator_id, role)
values (:tenant_id, :route_id, :operator_id, coalesce(:role::text, 'MEMBER'))
on conflict (tenant_id, route_id, operator_id) do update
   set role = coalesce(:role::text, l.role), is_active = true,
       updated_at = case when l.is_active and l.role = coalesce(:role::text, l.role) then l.updated_at
                         else excluded.updated_at end
returning route_id, operator_id, role, is_active;

-- name: unassign_operator(tenant_id, route_id, operator_id)$
-- Remove the link (hard delete); returns the operator id, or null when there was no link.
delete from app.route_operators
 where tenant_id = :tenant_id and route_id = :route_id and operator_id = :operator_id
returning operator_id;
