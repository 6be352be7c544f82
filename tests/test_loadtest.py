"""The load-test harness, small: seed a few tenants through the service's own functions, serve the app
over real HTTP, and drive every scenario for a second; every answer must be a 2xx. The CLI runs once
as a subprocess (``reten loadtest run --json``) against the same server."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import msgspec
import pytest
from conftest import ClusterDsns

from app.config import Settings
from app.loadtest.cli import run_scenario
from app.loadtest.scenarios import SCENARIOS, Options
from app.loadtest.seed import READY_SHARE, seed
from app.serving import serve_locally


@pytest.fixture
async def world(settings: Settings, cluster: ClusterDsns, tmp_path: Path) -> dict:
    out = tmp_path / "keys.json"
    summary = await seed(
        settings,
        tenants_count=2,
        activities=1000,
        big_tenant_activities=1500,
        commerces_count=5,
        operators_count=2,
        out=out,
        owner_dsn=cluster.owner,
    )
    assert out.stat().st_mode & 0o777 == 0o600  # it holds keys and a password
    assert json.loads(out.read_text()) == summary
    return summary


async def test_seed_writes_what_it_says(world: dict, app_pool) -> None:
    assert [t["tasks"] for t in world["tenants"]] == [1500, 1000]
    for tenant in world["tenants"]:
        async with app_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{tenant['id']}'")
            counts = dict(await conn.fetch("select status, count(*) from app.activities group by status"))
            events = await conn.fetchval("select count(*) from app.activity_status_events")
            results = await conn.fetchval("select count(*) from app.activity_results")
        assert sum(counts.values()) == tenant["tasks"]
        assert counts["READY"] == tenant["tasks"] * READY_SHARE
        assert results == counts["COMPLETED"]
        # CREATED for every task, and the event that moved each non-READY task where it is
        assert events == tenant["tasks"] + tenant["tasks"] - counts["READY"]


async def test_every_scenario_runs_clean(world: dict, settings: Settings, tmp_path: Path) -> None:
    served = msgspec.structs.replace(
        settings, api_key_rate_per_s=1e6, api_key_burst=10**6, tenant_rate_per_s=1e6, tenant_burst=10**6
    )
    async with serve_locally(served) as base:
        for scenario in SCENARIOS:
            report = await run_scenario(
                base, world, scenario, 4, 0.5, Options(per_page=50, pool=1500), progress=False, warmup_s=0.1
            )
            assert report["requests"] > 0, scenario
            assert report["errors"] == 0 and report["stopped"] is None, (scenario, report)
            assert all(status.startswith("2") for status in report["by_status"]), report["by_status"]
            assert report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"]
        keys = tmp_path / "keys.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", "loadtest", "run", "--scenario", "pull", "--cursor-page", "2",
            "--per-page", "100", "--concurrency", "2", "--duration", "1", "--warmup", "0.2",
            "--base-url", base, "--keys", str(keys), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report["scenario"] == "pull" and report["requests"] > 0 and report["errors"] == 0, report


async def test_a_run_that_cannot_go_on_stops_and_says_why() -> None:
    from app.loadtest.driver import StopLoad, drive

    async def request(n: int) -> int:
        if n >= 5:
            raise StopLoad("nothing left")
        await asyncio.sleep(0.01)
        return 201

    report = await drive(2, 5.0, request, warmup_s=0, progress=False)
    assert report["stopped"] == "nothing left"
    assert report["duration_s"] < 1 and report["requests"] <= 5 and report["errors"] == 0
