"""Every statement of the service that names a tenant is EXPLAINed in a tenant's transaction, as the
application role. On Citus each must reach one shard (every ``Task Count`` is 1: the request touches one
worker), in one router query unless listed in SINGLE_SHARD_IN_STEPS. The few cross-tenant reads (the
API-key digest, a user's tenants, the dispatcher's due tenants) take no tenant parameter and are not
here. On plain PostgreSQL the same statements are planned too (valid SQL, the role's grants).

The values are placeholders of the right types (the tenant is a real one): a plan, not a result, is
what is checked, and Citus prunes shards on the tenant alone."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import asyncpg
import pytest
from citus_mode import CITUS
from conftest import World

from app.db import init_connection, open_transaction, statements

# Writes Citus runs in steps, each on the tenant's one shard: a data-modifying CTE whose rows feed
# another statement (its result is pulled to the coordinator, then sent on), or an INSERT ... SELECT of a
# JSON payload (the rows are built on the coordinator and sent to the tenant's shard). Correct, one
# shard, but a hop more than a router query; a statement joins this list only with a reason.
SINGLE_SHARD_IN_STEPS = frozenset(
    {
        "activities.insert_activity",  # the activity, then its targets, attributes and events
        "activities.move",  # the status change, then its event
        "activity_config.replace_criteria",  # the old criteria deleted, the new ones from a JSON payload
        "activity_config.seed_result_types",  # JSON payload
        "activity_config.upsert_policy",  # the upsert, then its key's label (a reference table)
        "commerces.add_roles",  # JSON payload
        "commerces.insert_addresses",  # JSON payload
        "commerces.insert_contacts",  # JSON payload
        "commerces.insert_people",  # JSON payload
        "commerces.upsert_commerces",  # JSON payload
        "loadtest.seed_tasks",  # the load-test seed (not a request)
        "operators.upsert_operators",  # JSON payload
    }
)
IDENTITY_NAMESPACES = frozenset({"users", "tenants", "auth"})
VALUES_BY_NAME: dict[str, Any] = {"limit": 10, "offset": 0, "lease_s": 60, "settle_s": 0.0, "counted": True}


def tenant_statements() -> list[str]:
    """Every statement with a tenant_id parameter (aiosql's ``_cursor`` twins are the same SQL)."""
    return [name for name, statement in statements().items() if "tenant_id" in statement.parameters]


def placeholder(name: str, type_name: str, tenant: uuid.UUID) -> Any:
    if name == "tenant_id":
        return tenant
    if name in VALUES_BY_NAME:
        return VALUES_BY_NAME[name]
    return {
        "uuid": uuid.uuid4(),
        "uuid[]": [uuid.uuid4()],
        "text": "x",
        "text[]": ["x"],
        "varchar": "x",
        "int4": 1,
        "int8": 1,
        "float8": 1.0,
        "numeric": 1,
        "bool": False,
        "timestamptz": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "interval": dt.timedelta(seconds=1),
        "jsonb": json.dumps([]),
        "json": json.dumps([]),
        "bytea": b"\0" * 32,
    }[type_name]


def _text(value: Any) -> str | None:
    """A placeholder in PostgreSQL's text input form."""
    if value is None:
        return None
    if isinstance(value, list):
        return "{" + ",".join(str(v) for v in value) + "}"
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()} seconds"
    return str(value)


def task_counts(plan: list[str]) -> list[int]:
    return [int(m.group(1)) for line in plan if (m := re.search(r"Task Count: (\d+)", line))]


@pytest.fixture
async def tenant_conn(cluster: Any, world: World) -> Any:
    conn = await asyncpg.connect(cluster.app)
    await init_connection(conn)
    yield conn
    await conn.close()


def test_the_statement_list_is_not_empty() -> None:
    names = tenant_statements()
    # Guards against a discovery that silently finds nothing (the test below would pass vacuously).
    assert {"integration.pull_tasks", "activities.insert_activity", "results.record_result"} <= set(names)
    assert len(names) > 100


@pytest.mark.parametrize("name", tenant_statements())
async def test_each_tenant_statement_routes_to_one_shard(name: str, tenant_conn: Any, world: World) -> None:
    namespace = name.split(".")[0]
    statement = statements()[name]
    sql = statement.sql.strip().rstrip(";")
    order = statement.parameters
    # The identity routes' statements run as reten_identity (app/db.py), the others as reten_app.
    await open_transaction(
        tenant_conn, readonly=False, tenant_id=world.tenant_a, identity=namespace in IDENTITY_NAMESPACES
    )
    try:
        types = [p.name for p in (await tenant_conn.prepare(sql)).get_parameters()]
        values = [placeholder(n, t, world.tenant_a) for n, t in zip(order, types, strict=True)]
        # Constants in place of the parameters: the plan Citus makes for each execution (it plans every
        # execution of a statement on a distributed table with its values).
        for position in range(len(values), 0, -1):
            text = _text(values[position - 1])
            literal = await tenant_conn.fetchval("select quote_nullable($1::text)", text)
            sql = sql.replace(f"${position}", f"{literal}::{types[position - 1]}")
        plan = [r[0] for r in await tenant_conn.fetch(f"explain (costs off) {sql}")]
    finally:
        await tenant_conn.execute("rollback")
    assert plan, name
    if CITUS:
        counts = task_counts(plan)
        steps = any("Distributed Subplan" in line or "pull to coordinator" in line for line in plan)
        assert all(c == 1 for c in counts), f"{name} reaches more than one shard:\n" + "\n".join(plan)
        assert steps == (name in SINGLE_SHARD_IN_STEPS), (
            f"{name}: {'runs in steps' if steps else 'is one router query'} (update SINGLE_SHARD_IN_STEPS):\n"
            + "\n".join(plan)
        )
