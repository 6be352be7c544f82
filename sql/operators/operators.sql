-- name: list_operators(tenant_id, search, type, is_active, after_created_at, after_id, limit, offset)
-- A page of the tenant's operators in (created_at, id) order: by offset, or after a keyset cursor.
select id, type, first_name, last_name, email, phone, external_id, is_placeholder, is_active, metadata,
       created_at, updated_at
  from app.operators
 where tenant_id = :tenant_id
   and (:search::text is null or (first_name || ' ' || last_name) ilike :search or email ilike :search)
   and (:type::text is null or type = :type)
   and (:is_active::boolean is null or is_active = :is_active)
   and (:after_created_at::timestamptz is null or (created_at, id) > (:after_created_at, :after_id::uuid))
 order by created_at, id
 limit :limit offset :offset;

-- name: count_operators(tenant_id, search, type, is_active)$
-- How many operators the same filters match (offset mode only).
select count(*)
  from app.operators
 where tenant_id = :tenant_id
   and (:search::text is null or (first_name || ' ' || last_name) ilike :search or email ilike :search)
   and (:type::text is null or type = :type)
   and (:is_active::boolean is null or is_active = :is_active);

-- name: get_operator(tenant_id, id)^
-- One operator of the tenant.
select id, type, first_name, last_name, email, phone, external_id, is_placeholder, is_active, metadata,
       created_at, updated_at
  from app.operators
 where tenant_id = :tenant_id and id = :id;

-- name: lock_operator(tenant_id, id)^
-- One operator, row-locked: PATCH merges metadata in the caller, so concurrent PATCHes must queue.
select id, type, first_name, last_name, email, phone, external_id, is_placeholder, is_active, metadata,
       created_at, updated_at
  from app.operators
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: insert_operator(tenant_id, type, first_name, last_name, email, phone, external_id, is_placeholder, metadata)^
-- A new operator, or the reactivation of a soft-deleted one with the same (type, external_id). Returns
-- nothing when an active operator already has that (type, external_id).
insert into app.operators as o
       (tenant_id, type, first_name, last_name, email, phone, external_id, is_placeholder, metadata)
values (:tenant_id, :type, :first_name, :last_name, :email, :phone, :external_id, :is_placeholder,
        :metadata::jsonb)
on conflict (tenant_id, type, external_id) where external_id is not null do update
   set first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
       phone = excluded.phone, is_placeholder = excluded.is_placeholder,
       metadata = o.metadata || excluded.metadata, is_active = true, updated_at = excluded.updated_at
 where not o.is_active
returning id, type, first_name, last_name, email, phone, external_id, is_placeholder, is_active, metadata,
          created_at, updated_at;

-- name: update_operator(tenant_id, id, first_name, last_name, email, phone, is_active, metadata)^
-- Write an operator's editable fields (the caller has merged the PATCH into the current row).
update app.operators
   set first_name = :first_name, last_name = :last_name, email = :email, phone = :phone,
       is_active = :is_active, metadata = :metadata::jsonb, updated_at = now()
 where tenant_id = :tenant_id and id = :id
returning id, type, first_name, last_name, email, phone, external_id, is_placeholder, is_active, metadata,
          created_at, updated_at;

-- name: deactivate_links(tenant_id, operator_id)!
-- An operator that is deactivated leaves its routes (the links stay, inactive, until assigned again).
update app.route_operators set is_active = false, updated_at = now()
 where tenant_id = :tenant_id and operator_id = :operator_id and is_active;

-- name: email_taken(tenant_id, items)
-- Items (ordinal) whose email belongs to an operator with another (type, external_id).
select i.ord
  from jsonb_to_recordset(:items::jsonb) as i(ord int, type text, external_id text, email text)
  join app.operators o
    on o.tenant_id = :tenant_id and lower(o.email) = lower(i.email)
   and (o.type, o.external_id) is distinct from (i.type, i.external_id)
 order by i.ord;

-- name: upsert_operators(tenant_id, items)
-- Insert or update operators by (type, external_id) in one statement: name, email and phone replaced,
-- metadata merged, a soft-deleted operator reactivated; a row that would not change is not written.
-- Returns the written rows (`created` for inserts).
insert into app.operators as o (tenant_id, type, external_id, first_name, last_name, email, phone, metadata)
select :tenant_id, i.type, i.external_id, i.first_name, i.last_name, i.email, i.phone,
       coalesce(i.metadata, '{}')
  from jsonb_to_recordset(:items::jsonb)
       as i(type text, external_id text, first_name text, last_name text, email text, phone text,
            metadata jsonb)
on conflict (tenant_id, type, external_id) where external_id is not null do update
   set first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
       phone = excluded.phone, metadata = o.metadata || excluded.metadata, is_active = true,
       updated_at = excluded.updated_at
 where (o.first_name, o.last_name, o.email, o.phone, o.is_active, o.metadata || excluded.metadata)
       is distinct from (excluded.first_name, excluded.last_name, excluded.email, excluded.phone, true,
                         o.metadata)
returning o.id, o.xmax = 0 as created;
