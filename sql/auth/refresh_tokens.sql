-- name: insert_refresh_token(id, family_id, user_id, expires_at)!
-- Remember a freshly issued refresh token (its jti) in its family.
insert into app.refresh_tokens (id, family_id, user_id, expires_at)
values (:id, :family_id, :user_id, :expires_at);

-- name: claim_refresh_token(id, user_id)^
-- Rotate: mark an unused, unrevoked, unexpired token used; nothing back if it is not claimable.
update app.refresh_tokens
   set used_at = now()
 where id = :id and user_id = :user_id
   and used_at is null and revoked_at is null and expires_at > now()
returning id, family_id, user_id;

-- name: revoke_refresh_family(family_id)$
-- Revoke every token of a family (logout, or reuse of a rotated token); returns how many.
with revoked as (
  update app.refresh_tokens set revoked_at = now()
   where family_id = :family_id and revoked_at is null
  returning 1
)
select count(*) from revoked;

-- name: revoke_user_refresh_tokens(user_id)$
-- Revoke every refresh token of a user (password change or reset).
with revoked as (
  update app.refresh_tokens set revoked_at = now()
   where user_id = :user_id and revoked_at is null
  returning 1
)
select count(*) from revoked;
