-- Rate limits that hold across workers and instances (issue 17, item 1): one token bucket per limited
-- thing ("key:<id>", "tenant:<id>") shared by every process. A process never asks per request: a
-- background task borrows tokens for the buckets it uses (app/ratelimit.py, SharedBuckets), every 100 ms,
-- giving back what it did not spend and paying what it admitted before it had tokens. Unlogged: the
-- buckets are a few seconds of state, not data; after a crash they start full again.
--
-- Not a tenant table (no tenant_id, no RLS): it holds counters keyed by ids, nothing a tenant can read
-- through the API. Its own schema, app_runtime: state of the processes, not data, which
-- app.distribute_on_citus (it takes every table of `app`) must leave a plain table of the coordinator,
-- where the service connects; a reference table would make every sync a write on every node.
-- One DO block: a file of several statements is refused on an already distributed database.
do $migration$
begin
  create schema app_runtime;
  grant usage on schema app_runtime to reten_app;
  create unlogged table app_runtime.rate_buckets (
    bucket text primary key,
    tokens double precision not null,
    refreshed_at timestamptz not null
  );
  grant select, insert, update, delete on app_runtime.rate_buckets to reten_app;

  -- For each bucket (sorted by the caller, so two processes lock in one order): refill at its rate up to
  -- its burst, add what the caller gives back, take what it admitted without tokens (debt, which may go
  -- below zero), then grant up to what it wants. Returns the grants.
  create function app_runtime.rate_borrow(p_buckets text[], p_rates float8[], p_bursts float8[],
                                  p_returned float8[], p_debts float8[], p_wants float8[])
  returns table (bucket text, granted float8)
  language plpgsql
  set search_path = pg_catalog
  as $fn$
  declare
    i int;
    now_ts timestamptz := clock_timestamp();
    t float8;
    g float8;
  begin
    for i in 1 .. coalesce(array_length(p_buckets, 1), 0) loop
      insert into app_runtime.rate_buckets as b (bucket, tokens, refreshed_at)
      values (p_buckets[i], p_bursts[i], now_ts)
      on conflict on constraint rate_buckets_pkey do nothing;
      select least(p_bursts[i], b.tokens + greatest(0, extract(epoch from now_ts - b.refreshed_at)) * p_rates[i])
        into t
        from app_runtime.rate_buckets b
       where b.bucket = p_buckets[i]
         for update;
      t := t + p_returned[i] - p_debts[i];
      g := greatest(0, least(p_wants[i], floor(t)));
      update app_runtime.rate_buckets b set tokens = t - g, refreshed_at = now_ts where b.bucket = p_buckets[i];
      bucket := p_buckets[i];
      granted := g;
      return next;
    end loop;
  end
  $fn$;
  revoke all on function app_runtime.rate_borrow(text[], float8[], float8[], float8[], float8[], float8[]) from public;
  grant execute on function app_runtime.rate_borrow(text[], float8[], float8[], float8[], float8[], float8[]) to reten_app;
end
$migration$;
