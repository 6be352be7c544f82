"""The plans of the integration pull, per documented filter and pagination mode, on a seeded and
analysed tenant: each statement reads its driving index in order (no sequential scan, no sort of the
tenant's tasks), with the planner settings the route runs under (generic plans, app.db.GENERIC_PLANS).
The EXPLAIN of each is printed (pytest -s shows it)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from conftest import ClusterDsns

from app.config import Settings
from app.db import Tx, init_connection, open_transaction
from app.integration import service
from app.loadtest.baseline import sql_literal
from app.loadtest.seed import seed
from app.structs import Pagination

NOW = datetime.now(UTC)
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "status=PENDING": {"status": "PENDING"},
    "status=FAILED (rare)": {"status": "FAILED"},
    "status=READY (core)": {"status": "READY"},
    "result_status=EFFECTIVE": {"result_status": "EFFECTIVE"},
    "result_status=PENDING": {"result_status": "PENDING"},
    "channel": {"channel": "CALLCENTER"},
    "external_commerce_id": {"commerce_external_id": "LT-C0003"},
    "external_operator_id": {"operator_external_id": "LT-O001"},
    "scheduled_from/to": {"scheduled_from": NOW, "scheduled_to": NOW + timedelta(days=1)},
    "status + commerce": {"status": "PENDING", "commerce_external_id": "LT-C0003"},
    "status + channel + operator": {
        "status": "PENDING",
        "channel": "SALESMAN",
        "operator_external_id": "LT-O001",
    },
    "everything": {
        "status": "COMPLETED",
        "result_status": "EFFECTIVE",
        "channel": "SALESMAN",
        "commerce_external_id": "LT-C0003",
        "operator_external_id": "LT-O001",
        "scheduled_from": NOW - timedelta(days=2),
        "scheduled_to": NOW + timedelta(days=9),
    },
}
# The index each filter set reads in order (the statement variant app.integration.service.drive picks).
DRIVING = {"commerce": "activities_commerce_scheduled_idx", "status": "activities_pull_status_idx"}


def _driving_index(filters: dict[str, Any]) -> str:
    if "commerce_external_id" in filters:
        return DRIVING["commerce"]
    if "status" in filters:
        return DRIVING["status"]
    return "activities_scheduled_idx"


@pytest.fixture
async def tenant(settings: Settings, cluster: ClusterDsns, tmp_path: Path) -> uuid.UUID:
    """One tenant of 6,000 tasks (and a second one, so tenant_id is not unique), analysed."""
    world = await seed(
        settings,
        tenants_count=2,
        activities=6000,
        commerces_count=40,
        operators_count=4,
        out=tmp_path / "keys.json",
        owner_dsn=cluster.owner,
    )
    return uuid.UUID(world["tenants"][0]["id"])


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


async def _plans(settings: Settings, tenant: uuid.UUID, filters: dict[str, Any], mode: str) -> list[Any]:
    """(statement, plan) of what the route runs for one request, explained as it would be executed."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        captured: list[tuple[str, tuple[Any, ...]]] = []
        conn.add_query_logger(lambda q: captured.append((q.query, tuple(q.args or ()))))
        await open_transaction(conn, readonly=True, tenant_id=tenant, generic_plans=True)
        params = dict.fromkeys(
            ("result_status", "channel", "commerce_external_id", "operator_external_id", "scheduled_from",
             "scheduled_to")
        )  # fmt: skip
        params.update({k: v for k, v in filters.items() if k != "status"})
        page = {
            "page 1": Pagination(page=1, limit=100),
            "cursor": Pagination(
                page=1, limit=100, keyset=True, after=(NOW - timedelta(days=1), uuid.UUID(int=0))
            ),
            "page 3": Pagination(page=3, limit=100),
            "changes": Pagination(page=1, limit=100, keyset=True),
        }[mode]
        since = NOW - timedelta(days=30) if mode == "changes" else None
        await service.pull(
            Tx(conn, tenant), page, status=filters.get("status"), updated_since=since, settle_s=0, **params
        )
        await asyncio.sleep(0)
        out = []
        for n, (sql, args) in enumerate(c for c in captured if c[1]):
            await conn.execute(f"prepare s{n} as {sql}")
            plan = await conn.fetchval(
                f"explain (format json) execute s{n}(" + ", ".join(sql_literal(a) for a in args) + ")"
            )
            out.append((sql, json.loads(plan)[0]["Plan"]))
        await conn.execute("rollback")
        return out
    finally:
        await conn.close()


@pytest.mark.citus_incompatible(
    "a plan shape of one PostgreSQL server: on Citus the coordinator's plan is a Citus scan, and each worker "
    "plans its shard query with the values (tests/test_statement_routing.py checks the routing instead)"
)
@pytest.mark.parametrize("mode", ["page 1", "cursor", "page 3", "changes"])
async def test_every_filter_reads_an_index(settings: Settings, tenant: uuid.UUID, mode: str) -> None:
    for name, filters in FILTERS.items():
        plans = await _plans(settings, tenant, filters, mode)
        assert plans, name
        for sql, plan in plans:
            nodes = _nodes(plan)
            print(f"--- {mode} / {name}: {sql.split(chr(10))[0][:60]}")
            print(
                "\n".join(
                    f"{n['Node Type']} {n.get('Index Name', '')} {n.get('Relation Name', '')}" for n in nodes
                )
            )
            on_tasks = [n for n in nodes if n.get("Relation Name") == "activities"]
            assert on_tasks, (mode, name)
            # a deep offset (planned with its values) may fetch its page of ids back through a bitmap
            allowed = {"Index Scan", "Index Only Scan"} | (
                {"Bitmap Heap Scan"} if mode == "page 3" else set()
            )
            assert all(n["Node Type"] in allowed for n in on_tasks), (
                mode,
                name,
                on_tasks,
            )
            big = {"activities", "activity_results", "commerces"}
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in big], (
                name
            )
            if "item" not in sql or mode == "page 3":
                continue  # a count reads every match; a deep offset sorts its own page of ids
            assert not [n for n in nodes if n["Node Type"] == "Sort"], (mode, name)
            expected = "activities_task_changes_idx" if mode == "changes" else _driving_index(filters)
            # the page's scan (a counted page 1 also scans for its count, in an InitPlan)
            assert expected in [n.get("Index Name") for n in on_tasks], (mode, name, on_tasks)
