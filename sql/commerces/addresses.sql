-- name: addresses_of(tenant_id, commerce_ids)
-- Every address of the given commerces, primary first.
select id, commerce_id, source, source_ref, address_alias, street, street_number, unit, city, commune,
       region, country_code, formatted_address, latitude, longitude, is_primary, is_active, created_at,
       updated_at
  from app.commerce_addresses
 where tenant_id = :tenant_id and commerce_id = any(:commerce_ids::uuid[])
 order by commerce_id, is_primary desc, created_at, id;

-- name: get_address(tenant_id, commerce_id, id)^
-- One address of one commerce, row-locked (the caller is about to change it).
select id, commerce_id, source, source_ref, address_alias, street, street_number, unit, city, commune,
       region, country_code, formatted_address, latitude, longitude, is_primary, is_active, created_at,
       updated_at
  from app.commerce_addresses
 where tenant_id = :tenant_id and commerce_id = :commerce_id and id = :id
   for update;

-- name: clear_address_primaries(tenant_id, rows)
-- Before an address becomes primary: un-primary every other address of its commerce. Rows are
-- {commerce_id, id}, `id` being the address that keeps (or is about to get) the primary flag.
update app.commerce_addresses a set is_primary = false, updated_at = now()
  from jsonb_populate_recordset(null::app.commerce_addresses, :rows::jsonb) r
 where a.tenant_id = :tenant_id and a.commerce_id = r.commerce_id and a.is_primary and a.id <> r.id
returning a.id;

-- name: insert_addresses(tenant_id, rows)
-- Insert addresses given as a JSON array of rows (ids made by the caller).
insert into app.commerce_addresses
       (tenant_id, id, commerce_id, source, source_ref, address_alias, street, street_number, unit, city,
        commune, region, country_code, formatted_address, latitude, longitude, is_primary)
select :tenant_id, r.id, r.commerce_id, r.source, r.source_ref, r.address_alias, r.street, r.street_number,
       r.unit, r.city, r.commune, r.region, r.country_code, r.formatted_address, r.latitude, r.longitude,
       coalesce(r.is_primary, false)
  from jsonb_populate_recordset(null::app.commerce_addresses, :rows::jsonb) r
returning id, commerce_id, source, source_ref, address_alias, street, street_number, unit, city, commune,
          region, country_code, formatted_address, latitude, longitude, is_primary, is_active, created_at,
          updated_at;

-- name: update_addresses(tenant_id, rows)
-- Overwrite the editable fields of addresses given as a JSON array of whole rows.
update app.commerce_addresses a
   set source_ref = r.source_ref, address_alias = r.address_alias, street = r.street,
       street_number = r.street_number, unit = r.unit, city = r.city, commune = r.commune,
       region = r.region, country_code = r.country_code, formatted_address = r.formatted_address,
       latitude = r.latitude, longitude = r.longitude, is_primary = r.is_primary, is_active = r.is_active,
       updated_at = now()
  from jsonb_populate_recordset(null::app.commerce_addresses, :rows::jsonb) r
 where a.tenant_id = :tenant_id and a.id = r.id
returning a.id, a.commerce_id, a.source, a.source_ref, a.address_alias, a.street, a.street_number, a.unit,
          a.city, a.commune, a.region, a.country_code, a.formatted_address, a.latitude, a.longitude,
          a.is_primary, a.is_active, a.created_at, a.updated_at;
