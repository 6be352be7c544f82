-- name: submission_context(tenant_id, activity_id, provider_activity_id, commerce_external_id, result_code)^
-- What a result submission checks, in one round trip, with the matched activity row-locked: the activity
-- (by id, else the newest with that provider id), its commerce's external id and stored result, the
-- commerce named by the body, and the result type.
with a as (
  select a.id, a.type, a.status, a.commerce_id
    from app.activities a
   where a.tenant_id = :tenant_id
     and a.id = coalesce(:activity_id::uuid,
                         (select x.id from app.activities x
                           where x.tenant_id = :tenant_id and x.provider_activity_id = :provider_activity_id::text
                           order by x.created_at desc, x.id desc
                           limit 1))
     for update
)
select a.id as activity_id, a.type as activity_type, a.status as activity_status,
       ac.external_id as activity_commerce_external_id, a.commerce_id as activity_commerce_id,
       (select c.id from app.commerces c
         where c.tenant_id = :tenant_id and c.external_id = :commerce_external_id) as commerce_id,
       (select r.status from app.activity_results r
         where r.tenant_id = :tenant_id and r.activity_id = a.id) as stored_status,
       t.id is not null as result_type_known, t.requires_future_scheduled_at
  from (select 1) as one
  left join a on true
  left join app.commerces ac on ac.tenant_id = :tenant_id and ac.id = a.commerce_id
  left join app.task_result_types t on t.tenant_id = :tenant_id and t.code = :result_code and t.is_active;

-- name: record_result(tenant_id, activity_id, commerce_id, source, status, external_status, provider_activity_id, occurred_at, result, comment, contact_type, operator_external_id, future_scheduled_at, payload, raw_payload)^
-- Store a result: a new row, or (one result per activity) the replacement of the activity's stored one.
insert into app.activity_results as r (tenant_id, activity_id, commerce_id, source, status, external_status,
                                       provider_activity_id, occurred_at, result, comment, contact_type,
                                       operator_external_id, future_scheduled_at, payload, raw_payload)
values (:tenant_id, :activity_id, :commerce_id, :source, :status, :external_status, :provider_activity_id,
        :occurred_at, :result, :comment, :contact_type, :operator_external_id, :future_scheduled_at,
        :payload::jsonb, :raw_payload::jsonb)
on conflict (tenant_id, activity_id) where activity_id is not null do update
   set status = excluded.status, external_status = excluded.external_status,
       provider_activity_id = coalesce(excluded.provider_activity_id, r.provider_activity_id),
       occurred_at = excluded.occurred_at,
       result = excluded.result, comment = excluded.comment, contact_type = excluded.contact_type,
       operator_external_id = excluded.operator_external_id, future_scheduled_at = excluded.future_scheduled_at,
       payload = excluded.payload, raw_payload = excluded.raw_payload, updated_at = excluded.updated_at
returning id, activity_id, commerce_id, source, status, external_status, provider_activity_id, occurred_at, result,
          comment, contact_type, operator_external_id, future_scheduled_at, payload, created_at, updated_at;

-- name: stored_status(tenant_id, activity_id)$
-- The status of the activity's stored result, read in a fresh snapshot (after waiting for the activity's
-- row lock, a concurrent submit may have committed one that the locking statement could not see).
select status from app.activity_results where tenant_id = :tenant_id and activity_id = :activity_id;
