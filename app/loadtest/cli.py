"""``reten loadtest seed`` and ``reten loadtest run``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from app.loadtest.scenarios import SCENARIOS, Options

__all__ = ("add_commands", "run_scenario")

DEFAULT_KEYS = "loadtest-keys.json"


def add_commands(sub: Any) -> None:
    loadtest = sub.add_parser("loadtest", help="the load-test harness: seed data, drive scenarios over HTTP")
    cmds = loadtest.add_subparsers(dest="loadtest_command", required=True)
    seed = cmds.add_parser("seed", help="create tenants with API keys, a directory and tasks (direct SQL)")
    seed.add_argument("--tenants", type=int, default=10)
    seed.add_argument("--activities", type=int, default=2_000, help="tasks per tenant")
    seed.add_argument("--big-tenant-activities", type=int, default=0, help="tasks of the first tenant")
    seed.add_argument("--commerces", type=int, default=50, help="commerces per tenant")
    seed.add_argument("--operators", type=int, default=5, help="operators per tenant")
    seed.add_argument("--base-url", default="http://127.0.0.1:8000", help="recorded in the keys file")
    seed.add_argument("--out", default=None, help=f"keys file (default: <data dir>/{DEFAULT_KEYS})")
    seed.set_defaults(func=_seed)
    run = cmds.add_parser("run", help="drive a scenario against a running service")
    run.add_argument("--scenario", choices=SCENARIOS, default="pull")
    run.add_argument("--concurrency", type=int, default=64)
    run.add_argument("--duration", type=float, default=10.0, help="measured seconds (after 2 s warm-up)")
    run.add_argument("--base-url", default=None, help="default: the keys file's")
    run.add_argument("--keys", default=None, help=f"keys file (default: <data dir>/{DEFAULT_KEYS})")
    run.add_argument("--per-page", type=int, default=100)
    run.add_argument("--page", type=int, default=1, help="pull: offset page")
    run.add_argument("--cursor-page", type=int, default=None, help="pull: the cursor page to fetch")
    run.add_argument("--status", default=None, help="pull: status filter")
    run.add_argument("--pool", type=int, default=30_000, help="results: READY tasks to gather first")
    run.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    run.add_argument("--json", action="store_true", help="print the report as one JSON object")
    run.set_defaults(func=_run)


def _keys_path(given: str | None) -> Path:
    from app.config import load_settings

    return Path(given) if given else Path(load_settings().data_dir) / DEFAULT_KEYS


def _seed(args: argparse.Namespace) -> int:
    from app.bootstrap import prepare
    from app.config import load_settings
    from app.loadtest.seed import seed
    from app.migrations import migrate

    settings, owner_dsn, server = prepare(load_settings())
    asyncio.run(migrate(owner_dsn))
    out = _keys_path(args.out)
    summary = asyncio.run(
        seed(
            settings,
            tenants_count=args.tenants,
            activities=args.activities,
            big_tenant_activities=args.big_tenant_activities,
            commerces_count=args.commerces,
            operators_count=args.operators,
            out=out,
            owner_dsn=owner_dsn,
            base_url=args.base_url,
        )
    )
    tasks = sum(t["tasks"] for t in summary["tenants"])
    print(f"seeded {len(summary['tenants'])} tenants, {tasks} tasks; keys written to {out} (mode 0600)")
    del server
    return 0


async def run_scenario(
    base_url: str,
    world: dict[str, Any],
    scenario: str,
    concurrency: int,
    duration_s: float,
    options: Options,
    *,
    progress: bool = True,
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """Prepare ``scenario`` and drive it; the report (see ``app.loadtest.driver.Report``)."""
    import aiohttp

    from app.loadtest.driver import drive
    from app.loadtest.scenarios import build

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as http:
        request = await build(scenario, http, world, options)
        report = await drive(
            concurrency, duration_s, request, progress=progress, label=scenario, warmup_s=warmup_s
        )
    return {"scenario": scenario, "concurrency": concurrency, **report}


def _run(args: argparse.Namespace) -> int:
    from app.loadtest.driver import Report

    world = json.loads(_keys_path(args.keys).read_text())
    base_url = args.base_url or world.get("base_url") or "http://127.0.0.1:8000"
    options = Options(
        per_page=args.per_page,
        page=args.page,
        cursor_page=args.cursor_page,
        status=args.status,
        pool=args.pool,
    )
    report = asyncio.run(
        run_scenario(
            base_url, world, args.scenario, args.concurrency, args.duration, options, warmup_s=args.warmup
        )
    )
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.scenario} x{args.concurrency} against {base_url}: {Report(report).line}")
    return 0 if report["requests"] else 1
