"""The cluster the suite runs on: a Citus 14 coordinator with two active workers under TEST_CITUS=1
(make test-citus), plain PostgreSQL without the extension otherwise."""

from __future__ import annotations

import asyncpg
import pytest
from citus_mode import CITUS
from conftest import ClusterDsns

from app.db import check_citus, is_citus, queries


async def test_cluster_is_what_the_mode_says(cluster: ClusterDsns) -> None:
    conn = await asyncpg.connect(cluster.owner)
    try:
        if CITUS:
            version = await conn.fetchval("select citus_version()")
            assert version.startswith("Citus 14"), version
            nodes = await conn.fetchval(
                "select count(*) from pg_dist_node where noderole = 'primary' and isactive"
            )
            assert nodes == 3  # the coordinator (group 0, citus_set_coordinator_host) and two workers
            assert await conn.fetchval("select count(*) from pg_dist_node where groupid = 0") == 1
        else:
            assert await conn.fetchval("select count(*) from pg_extension where extname = 'citus'") == 0
    finally:
        await conn.close()


async def test_the_schema_is_distributed_as_the_start_up_check_expects(cluster: ClusterDsns) -> None:
    """On Citus, after `reten migrate`: every tenant table distributed by tenant_id in one co-location
    group, every global table a reference table, the tenant context propagated, and the check passes.
    On PostgreSQL, the transaction opening is the one-statement rendering."""
    conn = await asyncpg.connect(cluster.app)
    try:
        assert await is_citus(conn) == CITUS
        if not CITUS:
            assert await queries.db.citus_propagation(conn) is None
            return
        await check_citus(conn)
        kinds = dict(
            await conn.fetch(
                "select p.partmethod::text, count(*) from pg_dist_partition p"
                " where p.logicalrelid::regclass::text like 'app.%' group by 1"
            )
        )
        assert kinds == {"h": 20, "n": 6}, kinds
        groups = await conn.fetchval(
            "select count(distinct colocationid) from pg_dist_partition"
            " where partmethod = 'h' and logicalrelid::regclass::text like 'app.%'"
        )
        assert groups == 1
    finally:
        await conn.close()


async def test_the_start_up_check_refuses_a_half_distributed_schema(cluster: ClusterDsns) -> None:
    """A table left local, or a tenant context that would not reach the workers: the service refuses to
    start on Citus with a message naming the problem. (On PostgreSQL there is nothing to distribute: the
    check is not run, and the opening stays one statement.)"""
    conn = await asyncpg.connect(cluster.owner)
    try:
        if not CITUS:
            assert not await queries.db.has_citus(conn)
            return
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("create table app.zz_local (tenant_id uuid not null, id uuid primary key)")
            await conn.execute("create table app.zz_global (id uuid primary key)")
            await conn.execute("set local citus.propagate_set_commands = 'none'")
            with pytest.raises(RuntimeError) as refused:
                await check_citus(conn)
        finally:
            await tx.rollback()
        message = str(refused.value)
        assert "refusing to start on Citus" in message
        assert "app.zz_local must be distributed by tenant_id" in message
        assert "app.zz_global must be a reference table" in message
        assert "citus.propagate_set_commands is 'none'" in message
    finally:
        await conn.close()
