-- Delivery leases are owned (issue 16, item 4): a claim, or a manual dispatch, writes a token with the
-- lease, and an attempt goes out and is recorded only under the token it took. A lease that expired while
-- its activity waited in one dispatcher's queue, and that another dispatcher then claimed, can no longer
-- be sent by the first.
alter table app.activities add column dispatch_lease_token uuid;
