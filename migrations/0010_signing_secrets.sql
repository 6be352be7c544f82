-- Every outbound call is signed as Standard Webhooks does (app/dispatch/signing.py): each dispatch config
-- and each CLIENT_HOOK attribute policy has its own secret, AES-256-GCM ciphertext made by the service with
-- the credentials key ring (the key id is inside the value; `reten keys rotate` re-encrypts these too). After
-- a rotation the previous secret keeps signing beside the new one until *_previous_until. Rows written
-- before this migration have none: their calls stay unsigned until their owner rotates (which creates one).
--
-- One DO block: on a database already distributed (Citus), DDL is sent to the shards with the text of the
-- statement that ran it, and a file of several statements is refused ("cannot insert multiple commands
-- into a prepared statement"); inside the block each ALTER is a statement of its own. ADD CONSTRAINT goes
-- alone, as Citus wants it.
do $$
begin
  alter table app.dispatch_configs
    add column signing_secret bytea,
    add column signing_secret_previous bytea,
    add column signing_secret_previous_until timestamptz;
  alter table app.dispatch_configs
    add constraint dispatch_configs_signing_previous_check
    check ((signing_secret_previous is null) = (signing_secret_previous_until is null)
           and (signing_secret_previous is null or signing_secret is not null));

  alter table app.attribute_policies
    add column hook_secret bytea,
    add column hook_secret_previous bytea,
    add column hook_secret_previous_until timestamptz;
  alter table app.attribute_policies
    add constraint attribute_policies_hook_secret_check
    check ((hook_secret_previous is null) = (hook_secret_previous_until is null)
           and (hook_secret_previous is null or hook_secret is not null)
           and (hook_secret is null or resolver_type = 'CLIENT_HOOK'));
end
$$;
