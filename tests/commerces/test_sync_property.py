"""Property: after any sequence of commerce syncs, every commerce equals the last value sent for its
external_id (metadata: every value sent, merged in order; addresses: the last value per source_ref), and
repeating the last payload reports nothing created or updated."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]

KEYS = [f"e{n}" for n in range(5)]
REFS = ["r1", "r2"]
text = st.text(alphabet="abcxyz ", min_size=1, max_size=6).filter(str.strip)

address = st.fixed_dictionaries(
    {"source_ref": st.sampled_from(REFS), "street": text},
    optional={"city": text, "is_primary": st.booleans()},
)


@st.composite
def batch(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=len(KEYS), unique=True))
    items = []
    for key in keys:
        addresses = draw(st.lists(address, max_size=2, unique_by=lambda a: a["source_ref"]))
        if sum(a.get("is_primary", False) for a in addresses) > 1:
            addresses[1]["is_primary"] = False
        item = {
            "external_id": key,
            "name": draw(text),
            "addresses": addresses,
            "metadata": draw(st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=2)),
        }
        tax = draw(st.none() | st.sampled_from(["1", "2"]))
        if tax:
            item["tax_id"] = f"{key}-{tax}"  # unique per commerce: no cross-commerce conflicts
        if draw(st.booleans()):
            item["global_external_id"] = draw(text)
        items.append(item)
    return items


def expected_state(batches: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for items in batches:
        for item in items:
            previous = state.get(item["external_id"], {"metadata": {}, "streets": {}})
            streets = dict(previous["streets"])
            streets.update({a["source_ref"]: a["street"] for a in item["addresses"]})
            state[item["external_id"]] = {
                "name": item["name"],
                "taxId": item.get("tax_id"),
                "globalExternalId": item.get("global_external_id"),
                "metadata": {**previous["metadata"], **item["metadata"]},
                "streets": streets,
            }
    return state


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(batch(), min_size=1, max_size=4))
async def test_sync_state_is_the_last_value_per_external_id(
    client: Client, world: World, batches: list[list[dict[str, Any]]]
) -> None:
    # Each example works under its own prefix, so examples sharing the tenant stay independent.
    prefix = uuid.uuid4().hex[:8]
    headers = world.admin_a.headers()
    seen: set[str] = set()
    for items in batches:
        sent = [
            {
                **i,
                "external_id": f"{prefix}-{i['external_id']}",
                **({"tax_id": f"{prefix}-{i['tax_id']}"} if "tax_id" in i else {}),
            }
            for i in items
        ]
        response = await client.post("/api/commerces/sync", headers=headers, json={"items": sent})
        assert response.status_code == 201, response.text
        new = {i["external_id"] for i in items} - seen
        assert response.json()["created"] == len(new)
        assert response.json()["total"] == len(items)
        seen |= {i["external_id"] for i in items}

    repeat = await client.post("/api/commerces/sync", headers=headers, json={"items": sent})
    assert repeat.json() == {"created": 0, "updated": 0, "total": len(sent)}

    for key, want in expected_state(batches).items():
        listed = await client.get(f"/api/commerces?external_id={prefix}-{key}", headers=headers)
        (row,) = listed.json()["data"]
        detail = (await client.get(f"/api/commerces/{row['id']}", headers=headers)).json()
        tax = want["taxId"] and f"{prefix}-{want['taxId']}"
        got = {
            "name": detail["name"],
            "taxId": detail["taxId"],
            "globalExternalId": detail["globalExternalId"],
            "metadata": detail["metadata"],
            "streets": {a["sourceRef"]: a["street"] for a in detail["addresses"]},
        }
        assert got == {**want, "taxId": tax}
        assert sum(a["isPrimary"] for a in detail["addresses"]) <= 1
