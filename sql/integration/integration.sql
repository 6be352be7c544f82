-- Integration pull (CONTRACT.md §7). Every statement filters app.integration_tasks (a view: the planner,
-- and Citus, see the tables underneath) with the fragment `matching` below, expanded into each statement
-- that names it in double braces when the SQL is loaded (app/db.py::load_queries); every filter is optional (null =
-- not given). The filters sit in the statements themselves, not in a set-returning function: Citus
-- cannot see the distributed tables behind `FROM function()` and would plan it over the coordinator's
-- empty shells (research/citus-check.md, I). Each statement is a single-shard router query on Citus:
-- every table is reached through `tenant_id = :tenant_id`.
--
-- p_scheduled_to is required (callers pass a far-future time when none is given), so that it is an
-- index condition in a generic plan too: neither an OR nor a coalesce() can be one under row-level
-- security, which lets only leakproof conditions into the index scan. The lower bound is optional (a
-- generic plan would take the pair for a narrow range, about 0.5 % of the rows, and sort instead of
-- reading the index in order): page statements fold scheduled_from into their keyset bound. The result's
-- status is read in a subquery, not from the view's join, so that a count without that filter drops the
-- join (a probe per counted row).
--
-- fragment: matching
t.tenant_id = :tenant_id
   and (:pull_status::text is null or t.pull_status = :pull_status::text)
   and (:status::text is null or t.status = :status::text)
   and (:result_status::text is null
        or coalesce((select r.status from app.activity_results r
                      where r.tenant_id = :tenant_id and r.activity_id = t.id), 'PENDING') = :result_status::text)
   and (:channel::text is null or t.channel = :channel::text)
   and (:commerce_external_id::text is null or t.commerce_id = (
          select c.id from app.commerces c
           where c.tenant_id = :tenant_id and c.external_id = :commerce_external_id::text))
   and (:operator_external_id::text is null or t.operator_id = any (array(
          select o.id from app.operators o
           where o.tenant_id = :tenant_id and o.external_id = :operator_external_id::text)))
   and (:scheduled_from::timestamptz is null or t.scheduled_at >= :scheduled_from::timestamptz)
   and t.scheduled_at <= :scheduled_to::timestamptz
-- end fragment
--
-- The route runs generic plans (planned once per connection, not per request), and a generic plan
-- cannot know which filters are null. So the index that drives a page is named by the statement: the
-- caller (app/integration/service.py::drive) picks the variant for the most selective filter given
-- (a commerce, then a status, else the schedule), and the variant repeats that filter as a plain
-- condition the index can use. external_operator_id filters the scan of whichever drives (an external
-- id may name one operator per type; several operators cannot give one index order).
-- Pages after a keyset cursor: the keyset bound is always given (the caller passes the start of time
-- and the nil UUID for a first page), so that it is an index condition in the generic plan too (an OR
-- or a coalesce() cannot be one under row-level security: only leakproof conditions reach the index
-- scan). The inner LIMIT is a constant (the most a page fetches,
-- 100 + 1) so that the plan is costed for a page, not for the 10 % of the rows a parameter LIMIT is
-- assumed to take; the outer LIMIT stops it at the page actually asked for.

-- name: pull_tasks(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to, after_scheduled_at, after_id, limit, counted)
-- A page of tasks as integration items in (scheduled_at, id) order, from the start or after a cursor,
-- with (when counted) the number of tasks the filters match on every row: page 1 by offset is one round
-- trip (the count is an InitPlan, which PostgreSQL runs only when the CASE asks for it);
-- driven by the schedule alone: (tenant_id, scheduled_at, id).
select p.scheduled_at, p.id, p.item,
       case when :counted::boolean then
         (select count(*) from app.integration_tasks t where {{matching}})
       end as total
  from (select t.scheduled_at, t.id, t.item
          from app.integration_tasks t
         where {{matching}}
           and (t.scheduled_at, t.id) > (:after_scheduled_at::timestamptz, :after_id::uuid)
         order by t.scheduled_at, t.id
         limit 101) p
 limit :limit;

-- name: pull_tasks_by_status(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to, after_scheduled_at, after_id, limit, counted)
-- A page of tasks as integration items in (scheduled_at, id) order, from the start or after a cursor,
-- with (when counted) the number of tasks the filters match on every row: page 1 by offset is one round
-- trip (the count is an InitPlan, which PostgreSQL runs only when the CASE asks for it);
-- driven by a status: (tenant_id, pull_status, scheduled_at, id) where type = 'TASK'.
select p.scheduled_at, p.id, p.item,
       case when :counted::boolean then
         (select count(*) from app.integration_tasks t
                 where {{matching}} and t.pull_status = :pull_status)
       end as total
  from (select t.scheduled_at, t.id, t.item
          from app.integration_tasks t
         where {{matching}}
           and t.pull_status = :pull_status
           and (t.scheduled_at, t.id) > (:after_scheduled_at::timestamptz, :after_id::uuid)
         order by t.scheduled_at, t.id
         limit 101) p
 limit :limit;

-- name: pull_tasks_by_commerce(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to, after_scheduled_at, after_id, limit, counted)
-- A page of tasks as integration items in (scheduled_at, id) order, from the start or after a cursor,
-- with (when counted) the number of tasks the filters match on every row: page 1 by offset is one round
-- trip (the count is an InitPlan, which PostgreSQL runs only when the CASE asks for it);
-- driven by a commerce: (tenant_id, commerce_id, scheduled_at, id).
select p.scheduled_at, p.id, p.item,
       case when :counted::boolean then
         (select count(*) from app.integration_tasks t
                 where {{matching}}
                   and t.commerce_id = (select c.id from app.commerces c
                                         where c.tenant_id = :tenant_id and c.external_id = :commerce_external_id))
       end as total
  from (select t.scheduled_at, t.id, t.item
          from app.integration_tasks t
         where {{matching}}
           and t.commerce_id = (select c.id from app.commerces c
                       where c.tenant_id = :tenant_id and c.external_id = :commerce_external_id)
           and (t.scheduled_at, t.id) > (:after_scheduled_at::timestamptz, :after_id::uuid)
         order by t.scheduled_at, t.id
         limit 101) p
 limit :limit;

-- name: pull_tasks_at(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to, limit, offset)
-- A page deeper than the first by offset (the caller plans it with its values: a generic plan cannot
-- know the offset). The rows it skips are counted off the index and the filters only; items are built
-- for the page alone, and each row carries the count. Deep offsets still read every row they skip;
-- cursors do not.
select t.scheduled_at, t.id, t.item,
       (select count(*) from app.integration_tasks t where {{matching}}) as total
  from (select t.id
          from app.integration_tasks t
         where {{matching}}
         order by t.scheduled_at, t.id
         limit :limit offset :offset) p
  join app.integration_tasks t on t.tenant_id = :tenant_id and t.id = p.id
 order by t.scheduled_at, t.id;

-- name: count_tasks(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to)$
-- How many tasks the filters match, for an offset page past the last one (planned with its values, as
-- pull_tasks_at is).
select count(*)
  from app.integration_tasks t
 where {{matching}};

-- name: pull_changes(tenant_id, pull_status, status, result_status, channel, commerce_external_id, operator_external_id, scheduled_from, scheduled_to, updated_since, settle_s, after_updated_at, after_id, limit)
-- Incremental mode: the tasks changed at or after updated_since, in (updated_at, id) order (driven by
-- (tenant_id, updated_at, id) where type = 'TASK'; other filters apply to that scan). Changes of the
-- last settle_s seconds are held back until a later pull: a transaction that stamped updated_at just
-- before this snapshot may not have committed yet, and a client resuming from the newest updatedAt it
-- saw would otherwise skip it for good.
select t.updated_at, t.id, t.item
  from app.integration_tasks t
 where {{matching}}
   and t.updated_at >= :updated_since
   and t.updated_at < statement_timestamp() - make_interval(secs => :settle_s)
   and (t.updated_at, t.id) > (:after_updated_at::timestamptz, :after_id::uuid)
 order by t.updated_at, t.id
 limit :limit;
