-- Citus only: run once by a superuser on the coordinator, in the service's database, after roles.sql
-- and `create extension citus` (Citus propagates both statements to the workers). Idempotent.
--
-- Citus opens its connections to the workers as the current user. Inside the identity routes that is
-- reten_identity (SET ROLE), and inside the SECURITY DEFINER lookups reten_auth, so on a cluster both
-- must be able to log in and connect. They have no password: the nodes' authentication (pg_hba.conf,
-- certificates, or citus's pg_dist_authinfo) decides who may use them, as for Citus's own connections.
alter role reten_identity login;
alter role reten_auth login;
do $$
begin
  execute format('grant connect on database %I to reten_identity, reten_auth', current_database());
end
$$;
