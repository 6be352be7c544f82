-- name: people_of(tenant_id, commerce_ids)
-- The people of the given commerces, each with its roles.
select u.id, u.commerce_id, u.external_id, u.first_name, u.last_name, u.source, u.is_active, u.created_at,
       u.updated_at,
       coalesce(array(select r.role from app.commerce_user_roles r
                       where r.tenant_id = :tenant_id and r.commerce_user_id = u.id
                       order by r.role), '{}') as roles
  from app.commerce_users u
 where u.tenant_id = :tenant_id and u.commerce_id = any(:commerce_ids::uuid[])
 order by u.commerce_id, u.created_at, u.id;

-- name: get_person(tenant_id, commerce_id, id)^
-- One person of one commerce with its roles, row-locked (the caller is about to change it).
select u.id, u.commerce_id, u.external_id, u.first_name, u.last_name, u.source, u.is_active, u.created_at,
       u.updated_at,
       coalesce(array(select r.role from app.commerce_user_roles r
                       where r.tenant_id = :tenant_id and r.commerce_user_id = u.id
                       order by r.role), '{}') as roles
  from app.commerce_users u
 where u.tenant_id = :tenant_id and u.commerce_id = :commerce_id and u.id = :id
   for update of u;

-- name: insert_people(tenant_id, rows)
-- Insert people given as a JSON array of rows (ids made by the caller).
insert into app.commerce_users (tenant_id, id, commerce_id, external_id, first_name, last_name, source)
select :tenant_id, r.id, r.commerce_id, r.external_id, r.first_name, r.last_name, r.source
  from jsonb_populate_recordset(null::app.commerce_users, :rows::jsonb) r
returning id;

-- name: update_people(tenant_id, rows)
-- Overwrite the editable fields of people given as a JSON array of whole rows.
update app.commerce_users u
   set external_id = r.external_id, first_name = r.first_name, last_name = r.last_name, source = r.source,
       is_active = r.is_active, updated_at = now()
  from jsonb_populate_recordset(null::app.commerce_users, :rows::jsonb) r
 where u.tenant_id = :tenant_id and u.id = r.id
returning u.id;

-- name: add_roles(tenant_id, rows)
-- Give roles ({commerce_user_id, role} rows); roles already held are left alone. Returns the new ones.
insert into app.commerce_user_roles (tenant_id, commerce_user_id, role)
select :tenant_id, r.commerce_user_id, r.role
  from jsonb_populate_recordset(null::app.commerce_user_roles, :rows::jsonb) r
on conflict do nothing
returning commerce_user_id, role;

-- name: remove_roles(tenant_id, rows)
-- Take roles away ({commerce_user_id, role} rows); returns what was removed.
delete from app.commerce_user_roles x
 using jsonb_populate_recordset(null::app.commerce_user_roles, :rows::jsonb) r
 where x.tenant_id = :tenant_id and x.commerce_user_id = r.commerce_user_id and x.role = r.role
returning x.commerce_user_id, x.role;

-- name: contacts_of(tenant_id, person_ids)
-- Every contact of the given people, primary first within each type.
select id, commerce_user_id, contact_type, value, source, is_primary, is_active, created_at, updated_at
  from app.commerce_user_contacts
 where tenant_id = :tenant_id and commerce_user_id = any(:person_ids::uuid[])
 order by commerce_user_id, contact_type, is_primary desc, created_at, id;

-- name: get_contact(tenant_id, person_id, id)^
-- One contact of one person, row-locked.
select id, commerce_user_id, contact_type, value, source, is_primary, is_active, created_at, updated_at
  from app.commerce_user_contacts
 where tenant_id = :tenant_id and commerce_user_id = :person_id and id = :id
   for update;

-- name: find_contact(tenant_id, person_id, contact_type, value)^
-- The person's contact with this type and value, if any (a POST of a removed contact reactivates it).
select id, commerce_user_id, contact_type, value, source, is_primary, is_active, created_at, updated_at
  from app.commerce_user_contacts
 where tenant_id = :tenant_id and commerce_user_id = :person_id and contact_type = :contact_type
   and value = :value
   for update;

-- name: clear_contact_primaries(tenant_id, rows)
-- Before a contact becomes primary: un-primary the person's other contacts of that type. Rows are
-- {commerce_user_id, contact_type, id}, `id` being the contact that keeps (or gets) the primary flag.
update app.commerce_user_contacts c set is_primary = false, updated_at = now()
  from jsonb_populate_recordset(null::app.commerce_user_contacts, :rows::jsonb) r
 where c.tenant_id = :tenant_id and c.commerce_user_id = r.commerce_user_id
   and c.contact_type = r.contact_type and c.is_primary and c.id <> r.id
returning c.id;

-- name: insert_contacts(tenant_id, rows)
-- Insert contacts given as a JSON array of rows (ids made by the caller).
insert into app.commerce_user_contacts
       (tenant_id, id, commerce_user_id, contact_type, value, source, is_primary)
select :tenant_id, r.id, r.commerce_user_id, r.contact_type, r.value, r.source, coalesce(r.is_primary, false)
  from jsonb_populate_recordset(null::app.commerce_user_contacts, :rows::jsonb) r
returning id, commerce_user_id, contact_type, value, source, is_primary, is_active, created_at, updated_at;

-- name: update_contacts(tenant_id, rows)
-- Overwrite the editable fields of contacts given as a JSON array of whole rows.
update app.commerce_user_contacts c
   set contact_type = r.contact_type, value = r.value, source = r.source, is_primary = r.is_primary,
       is_active = r.is_active, updated_at = now()
  from jsonb_populate_recordset(null::app.commerce_user_contacts, :rows::jsonb) r
 where c.tenant_id = :tenant_id and c.id = r.id
returning c.id, c.commerce_user_id, c.contact_type, c.value, c.source, c.is_primary, c.is_active,
          c.created_at, c.updated_at;
