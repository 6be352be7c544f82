-- name: attribute_keys()
-- The global catalogue of attribute keys.
select id, key, label, description
  from app.attribute_keys
 order by key;

-- name: result_types(tenant_id, active_only)
-- The tenant's task result types (only the active ones when asked), by code.
select id, code, label, requires_future_scheduled_at, is_active, created_at, updated_at
  from app.task_result_types
 where tenant_id = :tenant_id and (not :active_only::boolean or is_active)
 order by code;

-- name: get_result_type(tenant_id, id)^
-- One task result type, row-locked (a PATCH merges into it).
select id, code, label, requires_future_scheduled_at, is_active, created_at, updated_at
  from app.task_result_types
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: upsert_result_type(tenant_id, code, label, requires_future_scheduled_at)^
-- A new result type; an inactive one with the same code is reactivated with the new values. Returns
-- nothing when an active type already has the code.
insert into app.task_result_types as t (tenant_id, code, label, requires_future_scheduled_at)
values (:tenant_id, :code, :label, :requires_future_scheduled_at)
on conflict (tenant_id, code) do update
   set label = excluded.label, requires_future_scheduled_at = excluded.requires_future_scheduled_at,
       is_active = true, updated_at = excluded.updated_at
 where not t.is_active
returning id, code, label, requires_future_scheduled_at, is_active, created_at, updated_at;

-- name: update_result_type(tenant_id, id, label, requires_future_scheduled_at, is_active)^
-- Write a result type's editable fields (merged by the caller).
update app.task_result_types
   set label = :label, requires_future_scheduled_at = :requires_future_scheduled_at, is_active = :is_active,
       updated_at = statement_timestamp()
 where tenant_id = :tenant_id and id = :id
returning id, code, label, requires_future_scheduled_at, is_active, created_at, updated_at;

-- name: seed_result_types(tenant_id, rows)!
-- A new tenant's default result types (tenant setup).
insert into app.task_result_types (tenant_id, code, label, requires_future_scheduled_at)
select :tenant_id, r.code, r.label, r.requires_future_scheduled_at
  from jsonb_populate_recordset(null::app.task_result_types, :rows::jsonb) r
on conflict (tenant_id, code) do nothing;

-- name: target_configs(tenant_id, id)
-- The tenant's target-resolution configs (or just one), by priority, each with its criteria as JSON.
select g.id, g.resolution_strategy, g.fallback_to_commerce_rep, g.fallback_to_owner, g.priority, g.is_active,
       g.created_at, g.updated_at,
       (select coalesce(json_agg(json_build_object(
                 'id', k.id, 'criteriaType', k.criteria_type, 'criteriaConfig', k.criteria_config,
                 'priority', k.priority) order by k.priority, k.created_at, k.id), '[]')
          from app.target_resolution_criteria k
         where k.tenant_id = :tenant_id and k.config_id = g.id) as criteria
  from app.target_resolution_configs g
 where g.tenant_id = :tenant_id and (:id::uuid is null or g.id = :id)
 order by g.is_active desc, g.priority, g.created_at, g.id;

-- name: lock_target_config(tenant_id, id)^
-- One target-resolution config, row-locked (a PATCH merges into it).
select id, resolution_strategy, fallback_to_commerce_rep, fallback_to_owner, priority, is_active
  from app.target_resolution_configs
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: insert_target_config(tenant_id, resolution_strategy, fallback_to_commerce_rep, fallback_to_owner, priority, is_active)$
-- A new target-resolution config; returns its id.
insert into app.target_resolution_configs (tenant_id, resolution_strategy, fallback_to_commerce_rep,
                                           fallback_to_owner, priority, is_active)
values (:tenant_id, :resolution_strategy, :fallback_to_commerce_rep, :fallback_to_owner, :priority, :is_active)
returning id;

-- name: update_target_config(tenant_id, id, resolution_strategy, fallback_to_commerce_rep, fallback_to_owner, priority, is_active)!
-- Write a config's fields (merged by the caller).
update app.target_resolution_configs
   set resolution_strategy = :resolution_strategy, fallback_to_commerce_rep = :fallback_to_commerce_rep,
       fallback_to_owner = :fallback_to_owner, priority = :priority, is_active = :is_active,
       updated_at = statement_timestamp()
 where tenant_id = :tenant_id and id = :id;

-- name: replace_criteria(tenant_id, config_id, rows)!
-- A config's criteria become exactly the given rows ({type, config, priority} as JSON). RETURNING: Citus
-- runs an INSERT ... SELECT without one as a COPY, which row-level security does not allow.
with gone as (
  delete from app.target_resolution_criteria where tenant_id = :tenant_id and config_id = :config_id
)
insert into app.target_resolution_criteria (tenant_id, config_id, criteria_type, criteria_config, priority)
select :tenant_id, :config_id, r.type, coalesce(r.config, '{}'), r.priority
  from jsonb_to_recordset(:rows::jsonb) as r(type text, config jsonb, priority integer)
returning id;

-- name: policies(tenant_id)
-- The tenant's attribute policies with their key.
select p.id, p.attribute_key_id, p.strategy, p.resolver_type, p.hook_url, p.created_at, p.updated_at,
       k.key, k.label
  from app.attribute_policies p
  join app.attribute_keys k on k.id = p.attribute_key_id
 where p.tenant_id = :tenant_id
 order by k.key;

-- name: lock_policy(tenant_id, attribute_key_id)^
-- The tenant's policy for one attribute key, row-locked (an upsert decides whether its hook secret stays,
-- goes, or is made).
select id, resolver_type, hook_secret, hook_secret_previous, hook_secret_previous_until
  from app.attribute_policies
 where tenant_id = :tenant_id and attribute_key_id = :attribute_key_id
   for update;

-- name: upsert_policy(tenant_id, id, attribute_key_id, strategy, resolver_type, hook_url, hook_secret, hook_secret_previous, hook_secret_previous_until)^
-- Create or replace the tenant's policy for one attribute key (id: the new row's, kept by an existing one),
-- with its hook secrets as the caller decided them.
with p as (
  insert into app.attribute_policies as p (tenant_id, id, attribute_key_id, strategy, resolver_type, hook_url,
                                           hook_secret, hook_secret_previous, hook_secret_previous_until)
  values (:tenant_id, :id, :attribute_key_id, :strategy, :resolver_type, :hook_url, :hook_secret,
          :hook_secret_previous, :hook_secret_previous_until)
  on conflict (tenant_id, attribute_key_id) do update
     set strategy = excluded.strategy, resolver_type = excluded.resolver_type, hook_url = excluded.hook_url,
         hook_secret = excluded.hook_secret, hook_secret_previous = excluded.hook_secret_previous,
         hook_secret_previous_until = excluded.hook_secret_previous_until, updated_at = excluded.updated_at
  returning p.id, p.attribute_key_id, p.strategy, p.resolver_type, p.hook_url, p.created_at, p.updated_at
)
select p.*, k.key, k.label from p join app.attribute_keys k on k.id = p.attribute_key_id;

-- name: policy_hook_secret(tenant_id, id)^
-- One policy's resolver and hook secret, row-locked (a rotation replaces the secret).
select id, resolver_type, hook_secret
  from app.attribute_policies
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: rotate_hook_secret(tenant_id, id, hook_secret, hook_secret_previous, hook_secret_previous_until)!
-- A policy's new hook secret; the replaced one (if any) keeps signing until hook_secret_previous_until
-- (computed by the caller: no clock function in an UPDATE of a distributed table).
update app.attribute_policies
   set hook_secret = :hook_secret, hook_secret_previous = :hook_secret_previous,
       hook_secret_previous_until = :hook_secret_previous_until
 where tenant_id = :tenant_id and id = :id;

-- name: policies_with_hook_secrets(tenant_id)
-- The tenant's policies with a hook secret, row-locked (key rotation re-encrypts those on an old key).
select id, hook_secret, hook_secret_previous
  from app.attribute_policies
 where tenant_id = :tenant_id and hook_secret is not null
   for update;

-- name: set_hook_secrets(tenant_id, id, hook_secret, hook_secret_previous)!
-- Store re-encrypted hook secrets (the secrets never change).
update app.attribute_policies set hook_secret = :hook_secret, hook_secret_previous = :hook_secret_previous
 where tenant_id = :tenant_id and id = :id;

-- name: delete_policy(tenant_id, id)$
-- Remove a policy (its key goes back to UPFRONT by INTERNAL_SERVICE); returns its id, or null.
delete from app.attribute_policies where tenant_id = :tenant_id and id = :id returning id;

-- name: attribute_key_exists(id)$
-- Is this a key of the global catalogue?
select exists (select 1 from app.attribute_keys where id = :id);
