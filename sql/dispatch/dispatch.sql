-- Push dispatch (CONTRACT.md §8): the global providers and channel definitions, and the tenant's
-- dispatch configs (credentials are ciphertext made by the service; never read back by a list).

-- name: providers()
-- Every provider with its channel definitions (as the list shows them), by code.
select p.id, p.code, p.name, p.protocol_type, p.is_active,
       coalesce(json_agg(json_build_object('channel', d.channel, 'credentialSchema', d.credential_schema,
                                           'settingsSchema', d.settings_schema) order by d.channel)
                  filter (where d.id is not null), '[]') as channel_definitions
  from app.dispatch_providers p
  left join app.dispatch_channel_definitions d on d.dispatch_provider_id = p.id
 group by p.id
 order by p.code;

-- name: provider_exists(id)$
-- Is there such a provider? (Its channel definitions came back empty.)
select exists (select 1 from app.dispatch_providers where id = :id);

-- name: channel_definitions(dispatch_provider_id)
-- One provider's channel definitions, by channel.
select id, dispatch_provider_id, channel, credential_schema, settings_schema, created_at, updated_at
  from app.dispatch_channel_definitions
 where dispatch_provider_id = :dispatch_provider_id
 order by channel;

-- name: channel_definition(dispatch_provider_id, channel)^
-- What a config for (provider, channel) is checked against: the provider and its definition of the
-- channel (definition columns null when the provider does not define it). No row: no such provider.
select p.code, p.protocol_type, p.is_active, d.id as definition_id, d.credential_schema, d.settings_schema
  from app.dispatch_providers p
  left join app.dispatch_channel_definitions d on d.dispatch_provider_id = p.id and d.channel = :channel
 where p.id = :dispatch_provider_id;

-- name: configs(tenant_id)
-- The tenant's dispatch configs with their provider, oldest first.
select c.id, c.dispatch_provider_id, c.channel, c.base_url, c.settings, c.is_active,
       c.credentials is not null as has_credentials, c.created_at, c.updated_at,
       p.code as provider_code, p.name as provider_name
  from app.dispatch_configs c
  join app.dispatch_providers p on p.id = c.dispatch_provider_id
 where c.tenant_id = :tenant_id
 order by c.created_at, c.id;

-- name: config(tenant_id, id)^
-- One dispatch config with its provider, row-locked (a PATCH merges into it; a rotation replaces its
-- signing secret).
select c.id, c.dispatch_provider_id, c.channel, c.base_url, c.settings, c.is_active, c.credentials,
       c.signing_secret,
       c.credentials is not null as has_credentials, c.created_at, c.updated_at,
       p.code as provider_code, p.name as provider_name
  from app.dispatch_configs c
  join app.dispatch_providers p on p.id = c.dispatch_provider_id
 where c.tenant_id = :tenant_id and c.id = :id
   for update of c;

-- name: save_config(tenant_id, id, dispatch_provider_id, channel, base_url, settings, credentials, credentials_key_id, is_active, signing_secret)^
-- Create a config (with its signing secret), or replace every column of an existing one (a PATCH sends
-- the merged row) except its signing secrets, which only a rotation changes.
insert into app.dispatch_configs as c (tenant_id, id, dispatch_provider_id, channel, base_url, settings,
                                       credentials, credentials_key_id, is_active, signing_secret)
values (:tenant_id, :id, :dispatch_provider_id, :channel, :base_url, :settings::jsonb, :credentials,
        :credentials_key_id, :is_active, :signing_secret)
on conflict (tenant_id, id) do update
   set dispatch_provider_id = excluded.dispatch_provider_id, channel = excluded.channel,
       base_url = excluded.base_url, settings = excluded.settings, credentials = excluded.credentials,
       credentials_key_id = excluded.credentials_key_id, is_active = excluded.is_active,
       updated_at = excluded.updated_at
returning id;

-- name: deactivate_config(tenant_id, id)$
-- Soft delete: the config stops being used; a later create for the channel may take its place.
update app.dispatch_configs set is_active = false, updated_at = statement_timestamp()
 where tenant_id = :tenant_id and id = :id
returning id;

-- name: tenant_ids()
-- Every tenant (key rotation, run by `reten keys rotate` as the owner role: it walks the tenants and
-- works inside each one's context).
select id from app.tenants order by id;

-- name: configs_with_credentials(tenant_id)
-- The tenant's configs with stored credentials, row-locked (rotation rewrites those on an old key or
-- written before the URL was bound to them).
select id, base_url, credentials
  from app.dispatch_configs
 where tenant_id = :tenant_id and credentials is not null
   for update;

-- name: set_credentials(tenant_id, id, credentials, credentials_key_id)!
-- Store re-encrypted credentials (the plaintext never changes).
update app.dispatch_configs set credentials = :credentials, credentials_key_id = :credentials_key_id
 where tenant_id = :tenant_id and id = :id;

-- name: rotate_signing_secret(tenant_id, id, signing_secret, signing_secret_previous, signing_secret_previous_until)!
-- A config's new signing secret; the replaced one (if any) keeps signing until signing_secret_previous_until
-- (computed by the caller: no clock function in an UPDATE of a distributed table).
update app.dispatch_configs
   set signing_secret = :signing_secret, signing_secret_previous = :signing_secret_previous,
       signing_secret_previous_until = :signing_secret_previous_until
 where tenant_id = :tenant_id and id = :id;

-- name: configs_with_signing_secrets(tenant_id)
-- The tenant's configs with a signing secret, row-locked (key rotation re-encrypts those on an old key).
select id, signing_secret, signing_secret_previous
  from app.dispatch_configs
 where tenant_id = :tenant_id and signing_secret is not null
   for update;

-- name: set_signing_secrets(tenant_id, id, signing_secret, signing_secret_previous)!
-- Store re-encrypted signing secrets (the secrets never change).
update app.dispatch_configs
   set signing_secret = :signing_secret, signing_secret_previous = :signing_secret_previous
 where tenant_id = :tenant_id and id = :id;

-- name: dispatch_target(tenant_id, id)^
-- An activity about to be dispatched, row-locked, with the active config of its channel (config columns
-- null when there is none: its credentials and signing secrets too) and whether a delivery of it is
-- already in flight (leased).
select a.id, a.type, a.status, a.channel, a.commerce_id, a.target_criteria, a.dispatch_attempt_count,
       coalesce(a.dispatch_lease_until > statement_timestamp(), false) as leased,
       a.dispatch_lease_token as lease_token,
       c.id as config_id, c.base_url, c.credentials, p.code as provider_code, p.protocol_type,
       c.signing_secret, c.signing_secret_previous, c.signing_secret_previous_until
  from app.activities a
  left join app.dispatch_configs c on c.tenant_id = a.tenant_id and c.channel = a.channel and c.is_active
  left join app.dispatch_providers p on p.id = c.dispatch_provider_id
 where a.tenant_id = :tenant_id and a.id = :id
   for update of a;

-- name: take_lease(tenant_id, id, lease_s, token)!
-- Hold the activity for one delivery attempt, under the attempt's token, for lease_s from now (a claim's
-- lease renewed as its call starts); released by the attempt's outcome, or by expiry.
update app.activities
   set dispatch_lease_until = statement_timestamp() + make_interval(secs => :lease_s),
       dispatch_lease_token = :token
 where tenant_id = :tenant_id and id = :id;

-- name: release_lease(tenant_id, id, token)!
-- Give the activity back without an attempt (it changed status while its call was in flight, or the
-- dispatcher is stopping), if the lease is still the caller's.
update app.activities set dispatch_lease_until = null, dispatch_lease_token = null
 where tenant_id = :tenant_id and id = :id and dispatch_lease_token = :token;

-- name: payload(tenant_id, id)^
-- What a provider receives (CONTRACT.md §8): the activity as the integration item, plus its target user
-- and its resolved attributes as {key: value}.
select i.item,
       (select json_build_object('id', u.id, 'externalId', u.external_id, 'firstName', u.first_name,
                                 'lastName', u.last_name)
          from app.activity_target_users t
          join app.commerce_users u on u.tenant_id = t.tenant_id and u.id = t.commerce_user_id
         where t.tenant_id = :tenant_id and t.activity_id = :id and t.resolution_status in ('RESOLVED', 'LOCKED')
         order by t.created_at
         limit 1) as target_user,
       coalesce((select json_object_agg(k.key, v.value order by k.key)
                   from app.activity_attributes v
                   join app.attribute_keys k on k.id = v.attribute_key_id
                  where v.tenant_id = :tenant_id and v.activity_id = :id
                    and v.resolution_status in ('RESOLVED', 'FALLBACK')), '{}') as attributes
  from app.activity_items i
 where i.tenant_id = :tenant_id and i.id = :id;

-- name: due_tenants(limit)
-- Tenants with dispatch work (app.dispatch_due_tenants: the one cross-tenant read), in random order.
select tenant_id from app.dispatch_due_tenants(:limit);

-- name: claim(tenant_id, limit, lease_s, token)
-- Up to limit due READY activities of the tenant on channels with an active config, held for lease_s
-- (rows another dispatcher is claiming right now are skipped, not waited for). Oldest schedule first.
with due as (
  select a.tenant_id, a.id
    from app.activities a
   where a.tenant_id = :tenant_id and a.status = 'READY'
     and (a.next_attempt_at is null or a.next_attempt_at <= now())
     and (a.dispatch_lease_until is null or a.dispatch_lease_until <= statement_timestamp())
     and exists (select 1 from app.dispatch_configs c
                  where c.tenant_id = :tenant_id and c.channel = a.channel and c.is_active)
   order by a.scheduled_at, a.id
   limit :limit
     for update of a skip locked
)
update app.activities a
   set dispatch_lease_until = statement_timestamp() + make_interval(secs => :lease_s),
       dispatch_lease_token = :token
  from due
 where a.tenant_id = :tenant_id and a.id = due.id
returning a.id;

-- name: create_provider(code, name, protocol_type)^
-- A new global provider (no channels yet).
insert into app.dispatch_providers (code, name, protocol_type) values (:code, :name, :protocol_type)
returning id;

-- name: update_provider(id, name, is_active)^
-- Rename or switch a provider on/off (null: unchanged).
update app.dispatch_providers
   set name = coalesce(:name, name), is_active = coalesce(:is_active, is_active), updated_at = statement_timestamp()
 where id = :id
returning id;

-- name: save_channel_definition(dispatch_provider_id, channel, credential_schema, settings_schema)^
-- Define a channel of a provider, or replace its schemas.
insert into app.dispatch_channel_definitions as d (dispatch_provider_id, channel, credential_schema, settings_schema)
values (:dispatch_provider_id, :channel, :credential_schema::jsonb, :settings_schema::jsonb)
on conflict (dispatch_provider_id, channel) do update
   set credential_schema = excluded.credential_schema, settings_schema = excluded.settings_schema,
       updated_at = excluded.updated_at
returning id, dispatch_provider_id, channel, credential_schema, settings_schema, created_at, updated_at;

-- name: provider(id)^
-- One provider with its channel definitions (as the list shows it).
select p.id, p.code, p.name, p.protocol_type, p.is_active,
       coalesce(json_agg(json_build_object('channel', d.channel, 'credentialSchema', d.credential_schema,
                                           'settingsSchema', d.settings_schema) order by d.channel)
                  filter (where d.id is not null), '[]') as channel_definitions
  from app.dispatch_providers p
  left join app.dispatch_channel_definitions d on d.dispatch_provider_id = p.id
 where p.id = :id
 group by p.id;

-- name: dispatch_state(tenant_id, id)^
-- Where a delivery of the activity stands, read without a lock (manual dispatch waiting for an attempt in
-- flight): its status, attempts so far, whether it is leased, and the last failed attempt's error.
select a.status, a.dispatch_attempt_count,
       coalesce(a.dispatch_lease_until > statement_timestamp(), false) as leased,
       e.error_code, e.error_message
  from app.activities a
  left join lateral (
         select x.error_code, x.error_message
           from app.activity_status_events x
          where x.tenant_id = :tenant_id and x.activity_id = a.id and x.event_type = 'DISPATCH_FAILED'
          order by x.seq desc
          limit 1) e on true
 where a.tenant_id = :tenant_id and a.id = :id;
