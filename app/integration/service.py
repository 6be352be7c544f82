"""Integration pull: a page of tasks as items PostgreSQL has already serialised (passed through as
``msgspec.Raw``, never parsed), by offset, keyset cursor, or changes since a time; the result-type
configs. Result submission is ``app.results.service.submit``, shared with the activities API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from app.activity_config import service as activity_config
from app.db import Tx, plan_with_values
from app.integration import repo
from app.integration.schemas import PULL_GROUP, ResultTypeConfig
from app.structs import Page, Pagination

__all__ = ("drive", "pull", "result_type_configs", "status_filter")


LAST_UUID = uuid.UUID(int=(1 << 128) - 1)
# The bounds given when the client gave none (the statements need every bound as a value: see
# sql/integration/integration.sql).
FIRST = (datetime(1, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def status_filter(status: str | None) -> dict[str, str | None]:
    """``status`` in either vocabulary as (pull_status, status) parameters: an integration word selects
    its group; a core status selects its group and narrows it to itself."""
    if status is None:
        return {"pull_status": None, "status": None}
    if status in PULL_GROUP:
        return {"pull_status": PULL_GROUP[status], "status": status}
    return {"pull_status": status, "status": None}


def drive(filters: dict[str, Any]) -> str:
    """The suffix of the statements whose index drives the page (see sql/integration/integration.sql):
    the most selective filter given (a commerce, then a status), else the schedule alone."""
    if filters.get("commerce_external_id") is not None:
        return "_by_commerce"
    if filters.get("pull_status") is not None:
        return "_by_status"
    return ""


def _item(row: Any) -> msgspec.Raw:
    return msgspec.Raw(row["item"])


async def pull(
    tx: Tx,
    page: Pagination,
    *,
    status: str | None,
    updated_since: datetime | None,
    settle_s: float,
    **filters: Any,
) -> Page[msgspec.Raw]:
    """``filters``: result_status, channel, commerce_external_id, operator_external_id, scheduled_from,
    scheduled_to. Three shapes:

    - a cursor walk, and page 1 by offset (the same rows: the walk from the start, with the count on
      each row), one statement on a generic plan (the route's);
    - a deeper page by offset with its count, planned with its values (the offset decides the plan);
      past the last page, the count alone;
    - with ``updated_since``, a walk by keyset on (updated_at, id), from the first change when no cursor
      is given (no count: a change feed has no fixed total), on a generic plan.
    """
    params = {**status_filter(status), **filters}
    params["scheduled_to"] = params.get("scheduled_to") or END_OF_TIME
    after = page.after or FIRST
    start = filters.get("scheduled_from")
    if updated_since is None and start is not None and after[0] < start:
        # scheduled_at >= start as the keyset bound (timestamps are whole microseconds): the index
        # condition of the page statements (see the fragment of sql/integration/integration.sql).
        after = (start - timedelta(microseconds=1), LAST_UUID)
    if updated_since is not None:
        keyset = page if page.keyset else Pagination(page=1, limit=page.limit, keyset=True)
        found = await repo.pull_changes(
            tx, updated_since=updated_since, settle_s=settle_s, after=after, limit=keyset.fetch, **params
        )
        return keyset.wrap_keyset([_item(r) for r in found], [(r["updated_at"], r["id"]) for r in found])
    if page.keyset or page.offset == 0:
        found = await repo.pull_tasks(
            tx,
            drive(params),
            after=after,
            limit=page.fetch if page.keyset else page.limit,
            counted=not page.keyset,
            **params,
        )
        if page.keyset:
            return page.wrap_keyset([_item(r) for r in found], [(r["scheduled_at"], r["id"]) for r in found])
        return page.wrap([_item(r) for r in found], found[0]["total"] if found else 0)
    await plan_with_values(tx)
    found = await repo.pull_tasks_at(tx, limit=page.limit, offset=page.offset, **params)
    total = found[0]["total"] if found else await repo.count_tasks(tx, **params)
    return page.wrap([_item(r) for r in found], total)


async def result_type_configs(tx: Tx) -> list[ResultTypeConfig]:
    return [
        ResultTypeConfig(
            code=t.code, label=t.label, requires_future_scheduled_at=t.requires_future_scheduled_at
        )
        for t in await activity_config.result_types(tx, active_only=True)
    ]
