"""``reten bench``: benchmarks that print figures (never asserted in tests), one module each: ``sync``
(``POST /api/commerces/sync``), ``activities`` (task creates and result submits next to pgbench), ``pull``
(the integration pull under the load-test harness and wrk), ``dispatch`` (push delivery) and ``citus``
(the same requests on PostgreSQL and on a local Citus cluster)."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path

import asyncpg
import msgspec

from app.config import development_secrets, load_settings
from app.embedded import bootstrap_cluster, start_embedded
from app.loadtest.bench.common import BENCH_DB, BENCH_DBS
from app.migrations import migrate

__all__ = ("main",)


async def _pg_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("show server_version"))
    finally:
        await conn.close()


def main(what: str, items_count: int, concurrency: int = 32, duration_s: float = 10, workers: int = 2) -> int:
    """Run on a freshly created ``reten_bench`` database in the embedded cluster (DATABASE_URL is not
    used: a benchmark must not write into a real database)."""
    base = load_settings()
    data_dir = Path(base.data_dir)
    server = start_embedded(data_dir)
    dsns = asyncio.run(bootstrap_cluster(server.get_uri(), BENCH_DBS.get(what, BENCH_DB), recreate=True))
    asyncio.run(migrate(dsns.owner))
    settings = load_settings(
        database_url=dsns.app,
        jwt_secret=base.jwt_secret or development_secrets(data_dir)["jwt_secret"],
        log_requests=False,
    )
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL {asyncio.run(_pg_version(dsns.app))}"
    )
    if what == "sync":
        from app.loadtest.bench import sync

        sync.print_sync_report(asyncio.run(sync.run_sync_bench(settings, items_count)), items_count)
    elif what == "dispatch":
        from app.loadtest.bench import dispatch

        credentials = base.credentials_keys or development_secrets(data_dir)["credentials_keys"]
        dispatch.run(msgspec.structs.replace(settings, credentials_keys=credentials), dsns.owner)
    elif what == "pull":
        from app.loadtest.bench import pull

        pull.run(settings, dsns.owner, duration_s, workers)
    elif what == "citus":
        from app.loadtest.bench import citus

        citus.run(settings, dsns.owner, duration_s, workers)
    else:
        from app.loadtest.bench import activities

        activities.run(settings, concurrency, duration_s, workers)
    del server
    return 0
