-- name: resolution_context(tenant_id, commerce_id, channel, keys, route_id, operator_id)^
-- Everything target and attribute resolution need, in one round trip: the commerce (name, ids, metadata,
-- primary address), its active people with their roles, the target of its latest completed activity on
-- this channel and on any channel (index activities_completed_idx: one entry each), the tenant's active target-resolution config with the lowest priority
-- (criteria included), the catalogue entry and tenant policy of each requested attribute key (with its
-- hook secrets as stored ciphertext, hex: the hook call decrypts and signs with them), and for a
-- task its route and operator (there and active? linked?). Always one row: id is null without the commerce.
select c.id, c.name, c.external_id, c.tax_id, c.is_active, c.metadata,
       (select coalesce(a.formatted_address,
                        nullif(concat_ws(' ', a.street, a.street_number, a.unit, a.city), ''))
          from app.commerce_addresses a
         where a.tenant_id = :tenant_id and a.commerce_id = c.id and a.is_primary) as primary_address,
       (select coalesce(json_agg(json_build_object(
                 'id', u.id,
                 'roles', array(select r.role from app.commerce_user_roles r
                                 where r.tenant_id = :tenant_id and r.commerce_user_id = u.id))
                 order by u.created_at, u.id), '[]')
          from app.commerce_users u
         where u.tenant_id = :tenant_id and u.commerce_id = c.id and u.is_active) as people,
       (select t.commerce_user_id
          from (select x.id from app.activities x
                 where x.tenant_id = :tenant_id and x.commerce_id = c.id and x.status = 'COMPLETED'
                   and x.channel = :channel
                 order by x.updated_at desc, x.id desc
                 limit 1) as latest
          join app.activity_target_users t on t.tenant_id = :tenant_id and t.activity_id = latest.id
         where t.commerce_user_id is not null
         limit 1) as last_same_channel,
       (select t.commerce_user_id
          from (select x.id from app.activities x
                 where x.tenant_id = :tenant_id and x.commerce_id = c.id and x.status = 'COMPLETED'
                 order by x.updated_at desc, x.id desc
                 limit 1) as latest
          join app.activity_target_users t on t.tenant_id = :tenant_id and t.activity_id = latest.id
         where t.commerce_user_id is not null
         limit 1) as last_any_channel,
       (select json_build_object(
                 'resolution_strategy', g.resolution_strategy,
                 'fallback_to_commerce_rep', g.fallback_to_commerce_rep,
                 'fallback_to_owner', g.fallback_to_owner,
                 'criteria', (select coalesce(json_agg(json_build_object(
                                        'type', k.criteria_type, 'config', k.criteria_config,
                                        'priority', k.priority) order by k.priority, k.id), '[]')
                                from app.target_resolution_criteria k
                               where k.tenant_id = :tenant_id and k.config_id = g.id))
          from app.target_resolution_configs g
         where g.tenant_id = :tenant_id and g.is_active
         order by g.priority, g.created_at
         limit 1) as config,
       (select coalesce(json_agg(json_build_object(
                 'key', k.key, 'id', k.id, 'strategy', p.strategy, 'resolver_type', p.resolver_type,
                 'hook_url', p.hook_url, 'tenant_id', p.tenant_id, 'policy_id', p.id,
                 'hook_secret', encode(p.hook_secret, 'hex'),
                 'hook_secret_previous', encode(p.hook_secret_previous, 'hex'),
                 'hook_secret_previous_until', extract(epoch from p.hook_secret_previous_until))), '[]')
          from app.attribute_keys k
          left join app.attribute_policies p on p.tenant_id = :tenant_id and p.attribute_key_id = k.id
         where k.key = any(:keys::text[])) as attribute_keys,
       (select r.is_active from app.routes r where r.tenant_id = :tenant_id and r.id = :route_id) as route_active,
       (select o.is_active from app.operators o
         where o.tenant_id = :tenant_id and o.id = :operator_id) as operator_active,
       exists (select 1 from app.route_operators l
                where l.tenant_id = :tenant_id and l.route_id = :route_id and l.operator_id = :operator_id
                  and l.is_active) as assigned
  from (select 1) as one
  left join app.commerces c on c.tenant_id = :tenant_id and c.id = :commerce_id;

-- name: insert_activity(tenant_id, id, type, channel, status, reason, user_status, score, idempotency_key, scheduled_at, suggested_execution_time, assignment_reason, commerce_id, route_id, operator_id, target_criteria, last_error, targets, attributes, events)^
-- Create an activity with its target users, attributes and status events in one statement (each INSERT
-- ... SELECT says RETURNING: Citus runs one without as a COPY, which row-level security refuses). The
-- idempotency key is claimed by ON CONFLICT DO NOTHING: on a repeat (even one still in flight, which
-- this waits for) nothing at all is written and no row comes back.
with a as (
  insert into app.activities (tenant_id, id, type, channel, status, reason, user_status, score, idempotency_key,
                              scheduled_at, suggested_execution_time, assignment_reason, commerce_id, route_id,
                              operator_id, target_criteria, last_error)
  values (:tenant_id, :id, :type, :channel, :status, :reason, :user_status, :score, :idempotency_key,
          :scheduled_at, :suggested_execution_time, :assignment_reason, :commerce_id, :route_id, :operator_id,
          :target_criteria::jsonb, :last_error)
  on conflict (tenant_id, idempotency_key) do nothing
  returning *
), targets as (
  insert into app.activity_target_users (tenant_id, activity_id, commerce_user_id, resolution_status,
                                         resolution_strategy, lock_reason, error_message, resolved_at, locked_at)
  select :tenant_id, a.id, t.commerce_user_id, t.resolution_status, t.resolution_strategy, t.lock_reason,
         t.error_message,
         statement_timestamp() + case when t.resolution_status in ('RESOLVED', 'LOCKED') then interval '0' end,
         statement_timestamp() + case when t.resolution_status = 'LOCKED' then interval '0' end
    from a, jsonb_populate_recordset(null::app.activity_target_users, :targets::jsonb) t
  returning 1
), attributes as (
  insert into app.activity_attributes (tenant_id, activity_id, attribute_key_id, strategy, resolver_type, hook_url,
                                       value, fallback, resolution_status, resolved_at, error_message)
  select :tenant_id, a.id, t.attribute_key_id, t.strategy, t.resolver_type, t.hook_url, t.value, t.fallback,
         t.resolution_status,
         statement_timestamp() + case when t.resolution_status in ('RESOLVED', 'FALLBACK') then interval '0' end, t.error_message
    from a, jsonb_populate_recordset(null::app.activity_attributes, :attributes::jsonb) t
  returning 1
), events as (
  insert into app.activity_status_events (tenant_id, activity_id, event_type, from_status, to_status, error_code,
                                          error_message)
  select :tenant_id, a.id, e.event_type, e.from_status, e.to_status, e.error_code, e.error_message
    from a, jsonb_populate_recordset(null::app.activity_status_events, :events::jsonb) with ordinality e
   order by e.ordinality
  returning 1
)
select a.id, a.type, a.channel, a.status, a.reason, a.user_status, a.score, a.idempotency_key, a.scheduled_at,
       a.suggested_execution_time, a.assignment_reason, a.commerce_id, a.route_id, a.operator_id,
       a.provider_activity_id, a.dispatch_attempt_count, a.last_error, a.cancel_reason, a.created_at, a.updated_at,
       c.name as commerce_name, c.external_id as commerce_external_id, r.name as route_name,
       o.first_name as operator_first_name, o.last_name as operator_last_name
  from a
  join app.commerces c on c.tenant_id = :tenant_id and c.id = a.commerce_id
  left join app.routes r on r.tenant_id = :tenant_id and r.id = a.route_id
  left join app.operators o on o.tenant_id = :tenant_id and o.id = a.operator_id;

-- name: id_by_idempotency_key(tenant_id, idempotency_key)$
-- The activity that holds an idempotency key (for the 409 of a repeated create).
select id from app.activities where tenant_id = :tenant_id and idempotency_key = :idempotency_key;

-- name: activity_exists(tenant_id, id)$
-- Is there such an activity in the tenant? (A sub-resource list that came back empty asks.)
select exists (select 1 from app.activities where tenant_id = :tenant_id and id = :id);

-- name: get_activity(tenant_id, id)^
-- One activity with its commerce, route and operator names.
select a.id, a.type, a.channel, a.status, a.reason, a.user_status, a.score, a.idempotency_key, a.scheduled_at,
       a.suggested_execution_time, a.assignment_reason, a.commerce_id, a.route_id, a.operator_id,
       a.provider_activity_id, a.dispatch_attempt_count, a.last_error, a.cancel_reason, a.created_at, a.updated_at,
       c.name as commerce_name, c.external_id as commerce_external_id, r.name as route_name,
       o.first_name as operator_first_name, o.last_name as operator_last_name
  from app.activities a
  join app.commerces c on c.tenant_id = a.tenant_id and c.id = a.commerce_id
  left join app.routes r on r.tenant_id = a.tenant_id and r.id = a.route_id
  left join app.operators o on o.tenant_id = a.tenant_id and o.id = a.operator_id
 where a.tenant_id = :tenant_id and a.id = :id;

-- name: list_activities(tenant_id, status, type, channel, commerce_id, scheduled_from, scheduled_to, search, after_scheduled_at, after_id, limit, offset)
-- A page of the tenant's activities in (scheduled_at, id) order, by offset or after a keyset cursor.
select a.id, a.type, a.channel, a.status, a.reason, a.user_status, a.score, a.idempotency_key, a.scheduled_at,
       a.suggested_execution_time, a.assignment_reason, a.commerce_id, a.route_id, a.operator_id,
       a.provider_activity_id, a.dispatch_attempt_count, a.last_error, a.cancel_reason, a.created_at, a.updated_at,
       c.name as commerce_name, c.external_id as commerce_external_id, r.name as route_name,
       o.first_name as operator_first_name, o.last_name as operator_last_name
  from app.activities a
  join app.commerces c on c.tenant_id = a.tenant_id and c.id = a.commerce_id
  left join app.routes r on r.tenant_id = a.tenant_id and r.id = a.route_id
  left join app.operators o on o.tenant_id = a.tenant_id and o.id = a.operator_id
 where a.tenant_id = :tenant_id
   and (:status::text is null or a.status = :status)
   and (:type::text is null or a.type = :type)
   and (:channel::text is null or a.channel = :channel)
   and (:commerce_id::uuid is null or a.commerce_id = :commerce_id)
   and (:scheduled_from::timestamptz is null or a.scheduled_at >= :scheduled_from)
   and (:scheduled_to::timestamptz is null or a.scheduled_at <= :scheduled_to)
   and (:search::text is null or a.reason ilike :search or a.idempotency_key ilike :search
        or c.name ilike :search or c.external_id ilike :search)
   and (:after_scheduled_at::timestamptz is null
        or (a.scheduled_at, a.id) > (:after_scheduled_at, :after_id::uuid))
 order by a.scheduled_at, a.id
 limit :limit offset :offset;

-- name: count_activities(tenant_id, status, type, channel, commerce_id, scheduled_from, scheduled_to, search)$
-- How many activities the same filters match (offset mode only).
select count(*)
  from app.activities a
  join app.commerces c on c.tenant_id = a.tenant_id and c.id = a.commerce_id
 where a.tenant_id = :tenant_id
   and (:status::text is null or a.status = :status)
   and (:type::text is null or a.type = :type)
   and (:channel::text is null or a.channel = :channel)
   and (:commerce_id::uuid is null or a.commerce_id = :commerce_id)
   and (:scheduled_from::timestamptz is null or a.scheduled_at >= :scheduled_from)
   and (:scheduled_to::timestamptz is null or a.scheduled_at <= :scheduled_to)
   and (:search::text is null or a.reason ilike :search or a.idempotency_key ilike :search
        or c.name ilike :search or c.external_id ilike :search);

-- name: lock_activity(tenant_id, id)^
-- An activity's state, row-locked: every status change reads, checks the machine, then moves.
select id, type, channel, status, commerce_id, target_criteria
  from app.activities
 where tenant_id = :tenant_id and id = :id
   for update;

-- name: notify_ready(tenant_id)$
-- Wake the dispatchers: an activity of this tenant became READY (created, or resolved on retry). Sent by
-- the service in the transaction that made it READY (delivered at commit, identical ones folded), from
-- the connection it holds: on Citus that is the coordinator, where the dispatchers LISTEN (a trigger
-- would fire on the worker that holds the row).
select pg_notify('reten_activity_ready', :tenant_id::uuid::text) is null;

-- name: move(tenant_id, id, from_status, to_status, event_type, error_code, error_message, cancel_reason, provider_activity_id, attempted, retry_at)$
-- Change an activity's status and write its status event, in one statement (from_status = to_status
-- records the event alone). Nothing happens unless the activity is still in from_status. A dispatch
-- attempt (attempted) counts itself, sets the provider's id when it has one and when to try again, and
-- releases the delivery lease. Returns the event's id.
with moved as (
  update app.activities
     set status = :to_status, updated_at = statement_timestamp(),
         last_error = case when :error_message::text is not null then :error_message else last_error end,
         cancel_reason = coalesce(:cancel_reason, cancel_reason),
         provider_activity_id = coalesce(:provider_activity_id, provider_activity_id),
         dispatch_attempt_count = dispatch_attempt_count + case when :attempted::boolean then 1 else 0 end,
         next_attempt_at = case when :attempted::boolean then :retry_at::timestamptz else next_attempt_at end,
         dispatch_lease_until = case when :attempted::boolean then null else dispatch_lease_until end,
         dispatch_lease_token = case when :attempted::boolean then null else dispatch_lease_token end
   where tenant_id = :tenant_id and id = :id and status = :from_status
  returning tenant_id, id
)
insert into app.activity_status_events (tenant_id, activity_id, event_type, from_status, to_status, error_code,
                                        error_message)
select :tenant_id, id, :event_type, :from_status, :to_status, :error_code, :error_message from moved
returning id;

-- name: status_events(tenant_id, activity_id)
-- An activity's status events in the order they happened.
select id, event_type, from_status, to_status, error_code, error_message, occurred_at
  from app.activity_status_events
 where tenant_id = :tenant_id and activity_id = :activity_id
 order by seq;

-- name: target_users(tenant_id, activity_id)
-- An activity's target users with the matched person's name.
select t.id, t.activity_id, t.commerce_user_id, t.resolution_status, t.resolution_strategy, t.lock_reason,
       t.error_message, t.resolved_at, t.locked_at, t.created_at, t.updated_at,
       u.first_name, u.last_name
  from app.activity_target_users t
  left join app.commerce_users u on u.tenant_id = t.tenant_id and u.id = t.commerce_user_id
 where t.tenant_id = :tenant_id and t.activity_id = :activity_id
 order by t.created_at, t.id;

-- name: attributes(tenant_id, activity_id)
-- An activity's attributes with their key.
select t.id, t.activity_id, t.attribute_key_id, k.key, t.strategy, t.resolver_type, t.hook_url, t.value,
       t.fallback, t.resolution_status, t.resolved_at, t.error_message, t.created_at, t.updated_at
  from app.activity_attributes t
  join app.attribute_keys k on k.id = t.attribute_key_id
 where t.tenant_id = :tenant_id and t.activity_id = :activity_id
 order by k.key;

-- name: update_targets(tenant_id, rows)!
-- Write re-resolved target users (whole rows as JSON; only the resolution columns change). A time set
-- only in some cases is `statement_timestamp() + case ... interval '0' end` (null otherwise): Citus
-- refuses a non-immutable function inside a CASE of a modification.
update app.activity_target_users t
   set commerce_user_id = r.commerce_user_id, resolution_status = r.resolution_status,
       lock_reason = r.lock_reason, error_message = r.error_message,
       resolved_at = statement_timestamp() + case when r.resolution_status in ('RESOLVED', 'LOCKED') then interval '0' end,
       locked_at = statement_timestamp() + case when r.resolution_status = 'LOCKED' then interval '0' end,
       updated_at = statement_timestamp()
  from jsonb_populate_recordset(null::app.activity_target_users, :rows::jsonb) r
 where t.tenant_id = :tenant_id and t.id = r.id;

-- name: update_attributes(tenant_id, rows)!
-- Write re-resolved attributes (whole rows as JSON; only the resolution columns change).
update app.activity_attributes t
   set value = r.value, resolver_type = r.resolver_type, resolution_status = r.resolution_status,
       resolved_at = statement_timestamp() + case when r.resolution_status in ('RESOLVED', 'FALLBACK') then interval '0' end,
       error_message = r.error_message, updated_at = statement_timestamp()
  from jsonb_populate_recordset(null::app.activity_attributes, :rows::jsonb) r
 where t.tenant_id = :tenant_id and t.id = r.id;

-- name: person_of_commerce(tenant_id, commerce_id, id)^
-- A person of the given commerce (manual target assignment checks it belongs there and is active).
select id, is_active
  from app.commerce_users
 where tenant_id = :tenant_id and commerce_id = :commerce_id and id = :id;
