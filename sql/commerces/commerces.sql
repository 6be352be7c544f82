-- name: list_commerces(tenant_id, search, external_id, global_external_id, is_active, is_placeholder, after_created_at, after_id, limit, offset)
-- A page of the tenant's commerces in (created_at, id) order: by offset, or after a keyset cursor.
select id, external_id, name, global_external_id, tax_id, is_active, is_placeholder, metadata,
       created_at, updated_at
  from app.commerces
 where tenant_id = :tenant_id
   and (:search::text is null or name ilike :search or external_id ilike :search)
   and (:external_id::text is null or external_id = :external_id)
   and (:global_external_id::text is null or global_external_id = :global_external_id)
   and (:is_active::boolean is null or is_active = :is_active)
   and (:is_placeholder::boolean is null or is_placeholder = :is_placeholder)
   and (:after_created_at::timestamptz is null or (created_at, id) > (:after_created_at, :after_id::uuid))
 order by created_at, id
 limit :limit offset :offset;

-- name: count_commerces(tenant_id, search, external_id, global_external_id, is_active, is_placeholder)$
-- How many commerces the same filters match (offset mode only).
select count(*)
  from app.commerces
 where tenant_id = :tenant_id
   and (:search::text is null or name ilike :search or external_id ilike :search)
   and (:external_id::text is null or external_id = :external_id)
   and (:global_external_id::text is null or global_external_id = :global_external_id)
   and (:is_active::boolean is null or is_active = :is_active)
   and (:is_placeholder::boolean is null or is_placeholder = :is_placeholder);

-- name: get_commerce(tenant_id, id)^
-- One commerce of the tenant.
select id, external_id, name, global_external_id, tax_id, is_active, is_placeholder, metadata,
       created_at, updated_at
  from app.commerces
 where tenant_id = :tenant_id and id = :id;

-- name: lock_commerce(tenant_id, id)^
-- One commerce, row-locked: PATCH merges metadata in the caller, so concurrent PATCHes must queue.
select id, external_id, name, global_external_id, tax_id, is_active, is_placeholder, metadata,
       created_at, updated_at
  from app.commerces
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: update_commerce(tenant_id, id, name, global_external_id, tax_id, is_active, metadata)^
-- Write a commerce's editable fields (the caller has merged the PATCH into the current row).
update app.commerces
   set name = :name, global_external_id = :global_external_id, tax_id = :tax_id,
       is_active = :is_active, metadata = :metadata::jsonb, updated_at = now()
 where tenant_id = :tenant_id and id = :id
returning id, external_id, name, global_external_id, tax_id, is_active, is_placeholder, metadata,
          created_at, updated_at;

-- name: deactivate_commerce(tenant_id, id)$
-- Soft delete; returns the id, or null when the tenant has no such commerce. updated_at moves only when
-- the commerce was active (a condition, not a CASE: Citus refuses non-immutable functions in CASE).
with changed as (
  update app.commerces set is_active = false, updated_at = now()
   where tenant_id = :tenant_id and id = :id and is_active
  returning id
)
select coalesce((select id from changed),
                (select id from app.commerces where tenant_id = :tenant_id and id = :id));

-- name: tax_id_taken(tenant_id, items)
-- Items (ordinal, tax_id) whose tax_id belongs to another commerce of the tenant.
select i.ord, i.tax_id
  from jsonb_to_recordset(:items::jsonb) as i(ord int, external_id text, tax_id text)
  join app.commerces c
    on c.tenant_id = :tenant_id and c.tax_id = i.tax_id and c.external_id <> i.external_id
 order by i.ord;

-- name: upsert_commerces(tenant_id, items)
-- Insert or update commerces by external_id in one statement. Scalars are replaced (a placeholder becomes
-- a real commerce), metadata is merged, a soft-deleted commerce is reactivated, and a row whose values would not change is not written.
-- Returns every item's commerce: `created` for inserts, `changed` for inserts and real updates.
with incoming as (
  select i.external_id, i.name, i.global_external_id, i.tax_id, coalesce(i.metadata, '{}') as metadata,
         coalesce(i.is_placeholder, false) as is_placeholder
    from jsonb_to_recordset(:items::jsonb)
         as i(external_id text, name text, global_external_id text, tax_id text, metadata jsonb,
              is_placeholder boolean)
), written as (
  insert into app.commerces as c
         (tenant_id, external_id, name, global_external_id, tax_id, metadata, is_placeholder)
  select :tenant_id, external_id, name, global_external_id, tax_id, metadata, is_placeholder
    from incoming
  on conflict (tenant_id, external_id) do update
     set name = excluded.name,
         global_external_id = excluded.global_external_id,
         tax_id = excluded.tax_id,
         is_placeholder = excluded.is_placeholder,
         metadata = c.metadata || excluded.metadata,
         is_active = true,
         updated_at = excluded.updated_at
   where (c.name, c.global_external_id, c.tax_id, c.is_placeholder, c.is_active,
          c.metadata || excluded.metadata)
         is distinct from (excluded.name, excluded.global_external_id, excluded.tax_id, excluded.is_placeholder,
                           true, c.metadata)
  returning c.id, c.external_id, c.xmax = 0 as created
)
select id, external_id, created, true as changed from written
union all
select c.id, c.external_id, false, false
  from app.commerces c
 where c.tenant_id = :tenant_id
   and c.external_id in (select external_id from incoming)
   and c.external_id not in (select external_id from written);

-- name: active_commerce_id(tenant_id, external_id)$
-- The id of the active commerce with this external_id, if any (POST /api/commerces refuses it).
select id from app.commerces
 where tenant_id = :tenant_id and external_id = :external_id and is_active;
