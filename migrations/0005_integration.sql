-- Integration pull (CONTRACT.md §7): the integration status vocabulary as a stored column, the indexes
-- that let every documented filter of GET /api/integration/activities/tasks walk an index in
-- (scheduled_at, id) order (or (updated_at, id) for the incremental mode), and the item as JSON.

-- The integration vocabulary: PENDING = READY or UNRESOLVED, IN_PROGRESS = DISPATCHED, CANCELLED =
-- CANCELED; COMPLETED and FAILED are the same word. Stored, so one index serves `status=PENDING`
-- in schedule order (two core statuses under one key, which an index on `status` cannot give in order).
alter table app.activities
  add column pull_status text not null generated always as (
    case status
      when 'READY' then 'PENDING'
      when 'UNRESOLVED' then 'PENDING'
      when 'DISPATCHED' then 'IN_PROGRESS'
      when 'CANCELED' then 'CANCELLED'
      else status
    end) stored;

-- status (either vocabulary: a core value narrows its group with a filter on `status`).
create index activities_pull_status_idx on app.activities (tenant_id, pull_status, scheduled_at, id)
  where type = 'TASK';
-- Incremental mode: updated_since + cursor on (updated_at, id).
create index activities_task_changes_idx on app.activities (tenant_id, updated_at, id) where type = 'TASK';
-- external_operator_id in schedule order (replaces the plain operator index, which served only the
-- ON DELETE SET NULL of an operator; this one serves that too).
create index activities_operator_scheduled_idx on app.activities (tenant_id, operator_id, scheduled_at, id)
  where operator_id is not null;
drop index app.activities_operator_idx;
-- external_commerce_id uses activities_commerce_scheduled_idx (0004) after a unique lookup of the
-- commerce; no filter and channel/result_status/scheduled_* alone use activities_scheduled_idx (0004).

-- One result per activity, now as a plain unique index (standalone results have no activity, and nulls
-- are distinct, so the partial predicate of 0004 was not needed). With it the planner can prove that the
-- pull's left join to results yields at most one row, and drop the join where no result column is read.
create unique index activity_results_activity_uq on app.activity_results (tenant_id, activity_id);
drop index app.activity_results_activity_key;

-- Operators by external id alone (the filter does not name a type; the unique key leads with type).
create index operators_external_id_idx on app.operators (tenant_id, external_id) where external_id is not null;

-- app.iso_ms (0003) was not inlined: it pinned search_path, and it was declared IMMUTABLE around
-- to_char, which is only STABLE. Either stops PostgreSQL from inlining a SQL function, so every call
-- went through the SQL-function executor (about 2.7 us, against 0.3 us for to_char itself: 1.1 ms per
-- 100-item page). This body names only pg_catalog objects (no pinned path needed) and is STABLE.
create or replace function app.iso_ms(t timestamptz) returns text
  language sql stable parallel safe
  as $$ select pg_catalog.to_char(pg_catalog.timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
alter function app.iso_ms(timestamptz) reset all;

-- One activity as the integration item of CONTRACT.md §7 (plus `updatedAt`, an addition for the
-- incremental mode): what the integration pull lists (tasks) and what push dispatch sends (tasks and
-- messages). Built here so the hot path passes it through without parsing. security_invoker: the
-- caller's row-level security applies to every table underneath.
create view app.activity_items with (security_invoker = true) as
select a.tenant_id, a.id, a.type, a.status, a.pull_status, a.channel, a.commerce_id, a.operator_id, a.scheduled_at,
       a.updated_at, coalesce(r.status, 'PENDING') as result_status,
       json_build_object(
         'id', a.id,
         'activityOrigin', 'ACTIVITY',
         'type', a.type,
         'status', a.pull_status,
         'channel', a.channel,
         'scheduledAt', app.iso_ms(a.scheduled_at),
         'occurredAt', app.iso_ms(r.occurred_at),
         'createdAt', app.iso_ms(a.created_at),
         'updatedAt', app.iso_ms(a.updated_at),
         'lifecycleStatus', case a.status when 'READY' then 'SCHEDULED' else a.status end,
         'lifecycleStatusLabel', case a.status
                                   when 'READY' then 'Programada'
                                   when 'UNRESOLVED' then 'Sin resolver'
                                   when 'DISPATCHED' then 'Despachada'
                                   when 'COMPLETED' then 'Completada'
                                   when 'CANCELED' then 'Cancelada'
                                   when 'FAILED' then 'Fallida'
                                 end,
         'lifecycleStatusDetail', a.last_error,
         'canForceRetryDispatch', a.status = 'FAILED',
         'commerceExternalId', c.external_id,
         'commerceName', c.name,
         'operatorExternalId', o.external_id,
         'operatorName', case when o.id is not null then btrim(o.first_name || ' ' || o.last_name) end,
         'routeId', a.route_id,
         'routeName', rt.name,
         'providerActivityId', a.provider_activity_id,
         'reason', a.reason,
         'resultStatus', coalesce(r.status, 'PENDING'),
         'result', r.result
       ) as item
  from app.activities a
  -- left: every activity has its commerce (a not-null foreign key), and a left join to a unique key is
  -- one PostgreSQL drops from a statement that reads none of its columns (the counts).
  left join app.commerces c on c.tenant_id = a.tenant_id and c.id = a.commerce_id
  left join app.operators o on o.tenant_id = a.tenant_id and o.id = a.operator_id
  left join app.routes rt on rt.tenant_id = a.tenant_id and rt.id = a.route_id
  left join app.activity_results r on r.tenant_id = a.tenant_id and r.activity_id = a.id;
grant select on app.activity_items to reten_app;

create view app.integration_tasks with (security_invoker = true) as
select * from app.activity_items where type = 'TASK';
grant select on app.integration_tasks to reten_app;

-- The documented filters, in one place for the page, the count and the incremental mode. A SQL
-- function without SET clauses is inlined into the calling statement. Optional filters are
-- `p is null or ...` (filters on the scan). p_scheduled_to is required (callers pass a far-future time
-- when none is given), so that it is an index condition in a generic plan too: neither an OR nor a
-- coalesce() can be one under row-level security, which lets only leakproof conditions into the index
-- scan. The lower bound is optional (a generic plan would take the pair for a narrow range, about 0.5 %
-- of the rows, and sort instead of reading the index in order): page statements fold scheduled_from
-- into their keyset bound. Which index drives a statement is chosen by its caller
-- (sql/integration/integration.sql), not here.
create function app.integration_tasks_matching(
  p_tenant_id uuid, p_pull_status text, p_status text, p_result_status text, p_channel text,
  p_commerce_external_id text, p_operator_external_id text, p_scheduled_from timestamptz,
  p_scheduled_to timestamptz
) returns setof app.integration_tasks
  language sql stable
  as $$
select t.*
  from app.integration_tasks t
 where t.tenant_id = p_tenant_id
   and (p_pull_status is null or t.pull_status = p_pull_status)
   and (p_status is null or t.status = p_status)
   -- the result's status read here, not from the view's join, so that a count without this filter
   -- drops that join (a probe per counted row)
   and (p_result_status is null
        or coalesce((select r.status from app.activity_results r
                      where r.tenant_id = t.tenant_id and r.activity_id = t.id), 'PENDING') = p_result_status)
   and (p_channel is null or t.channel = p_channel)
   and (p_commerce_external_id is null or t.commerce_id = (
          select c.id from app.commerces c
           where c.tenant_id = p_tenant_id and c.external_id = p_commerce_external_id))
   and (p_operator_external_id is null or t.operator_id = any (array(
          select o.id from app.operators o
           where o.tenant_id = p_tenant_id and o.external_id = p_operator_external_id)))
   and (p_scheduled_from is null or t.scheduled_at >= p_scheduled_from)
   and t.scheduled_at <= p_scheduled_to
$$;
grant execute on function app.integration_tasks_matching(uuid, text, text, text, text, text, text, timestamptz,
                                                         timestamptz) to reten_app;
