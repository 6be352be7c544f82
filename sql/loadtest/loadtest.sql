-- The load-test seed (reten loadtest seed): tasks in bulk for one tenant, as the service would have
-- left them. Task n (0-based) has id md5(tenant_id || '-' || n) so a pgbench script can address it, and
-- its status by n % 20: 0-11 READY, 12 UNRESOLVED, 13-14 DISPATCHED, 15-18 COMPLETED (with a result,
-- EFFECTIVE or NOT_EFFECTIVE), 19 CANCELED; each with the status events that lead there. Every INSERT ...
-- SELECT says RETURNING: Citus runs one without as a COPY, which row-level security does not allow.

-- name: seed_tasks(tenant_id, first, count, commerce_ids, route_id, operator_ids, scheduled_from)$
-- Tasks first .. first + count - 1, one minute apart from scheduled_from; returns how many were written.
with n as (
  select g as n, g % 20 as r from generate_series(:first::int, :first::int + :count::int - 1) g
), a as (
  insert into app.activities (tenant_id, id, type, channel, status, reason, idempotency_key, scheduled_at,
                              commerce_id, route_id, operator_id, provider_activity_id, last_error)
  select :tenant_id::uuid, md5(:tenant_id::uuid::text || '-' || n.n)::uuid, 'TASK',
         case when n.n % 3 = 0 then 'CALLCENTER' else 'SALESMAN' end,
         case when n.r < 12 then 'READY' when n.r = 12 then 'UNRESOLVED' when n.r < 15 then 'DISPATCHED'
              when n.r < 19 then 'COMPLETED' else 'CANCELED' end,
         'Monthly visit', 'lt-' || n.n,
         :scheduled_from::timestamptz + make_interval(mins => n.n),
         (:commerce_ids::uuid[])[1 + n.n % cardinality(:commerce_ids::uuid[])], :route_id,
         (:operator_ids::uuid[])[1 + n.n % cardinality(:operator_ids::uuid[])],
         case when n.r between 13 and 18 then 'prov-' || n.n end,
         case when n.r = 12 then 'No target user: no person with role OWNER' end
    from n
  returning tenant_id, id, status, commerce_id
), created as (
  insert into app.activity_status_events (tenant_id, activity_id, event_type, from_status, to_status)
  select tenant_id, id, 'CREATED', null, 'READY' from a
  returning 1
), moved as (
  insert into app.activity_status_events (tenant_id, activity_id, event_type, from_status, to_status)
  select tenant_id, id,
         case status when 'UNRESOLVED' then 'RESOLUTION_FAILED' when 'DISPATCHED' then 'DISPATCH_SUCCESS'
                     when 'COMPLETED' then 'RESULT_RECEIVED' else 'CANCELED' end,
         'READY', status
    from a where status <> 'READY'
  returning 1
), results as (
  insert into app.activity_results (tenant_id, activity_id, commerce_id, source, status, occurred_at, result,
                                    contact_type)
  select a.tenant_id, a.id, a.commerce_id, 'RETEN_ACTIVITY',
         case when hashtext(a.id::text) % 2 = 0 then 'EFFECTIVE' else 'NOT_EFFECTIVE' end,
         statement_timestamp(), 'SALE_COMPLETED', 'OUTBOUND'
    from a where a.status = 'COMPLETED'
  returning 1
)
select count(*) from a;

-- name: seed_directory(tenant_id)^
-- The seeded tenant's commerces and operators, ids and external ids in matching order.
select array(select id from app.commerces where tenant_id = :tenant_id order by external_id) as commerce_ids,
       array(select external_id from app.commerces where tenant_id = :tenant_id order by external_id)
         as commerce_external_ids,
       array(select id from app.operators where tenant_id = :tenant_id order by external_id) as operator_ids,
       array(select external_id from app.operators where tenant_id = :tenant_id order by external_id)
         as operator_external_ids;
