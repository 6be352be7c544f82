"""Routes: create (and reactivation), list, get, PATCH, soft delete; operator links (list, assign, remove);
permissions and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import Actor, World, add_user, assert_error
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
URL = "/api/routes"
ROUTE_KEYS = {"id", "name", "code", "externalId", "isActive", "metadata", "createdAt", "updatedAt"}
LINK_KEYS = {
    "routeId", "operatorId", "role", "isActive", "name", "firstName", "lastName", "type", "email",
    "operatorIsActive", "createdAt", "updatedAt",
}  # fmt: skip


async def call(client: Client, actor: Actor, method: str, path: str = "", **kwargs: Any) -> Any:
    """`method` on /api/routes/<path> as `actor` (the raw response)."""
    return await client.request(method, f"{URL}/{path}".rstrip("/"), headers=actor.headers(), **kwargs)


async def ok(
    client: Client, actor: Actor, method: str, path: str = "", status: int = 200, **kwargs: Any
) -> Any:
    """The decoded body of a call that must answer `status` (None for an empty body)."""
    response = await call(client, actor, method, path, **kwargs)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def create(client: Client, actor: Actor, **fields: Any) -> dict[str, Any]:
    return await ok(client, actor, "POST", status=201, json={"name": "North Route", **fields})


async def fetch(client: Client, actor: Actor, route_id: str) -> dict[str, Any]:
    return await ok(client, actor, "GET", route_id)


async def listing(client: Client, actor: Actor, **params: Any) -> dict[str, Any]:
    return await ok(client, actor, "GET", params=params)


def ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["data"]]


async def operator(client: Client, actor: Actor, name: str = "Olga Field", **fields: Any) -> dict[str, Any]:
    body = {"type": "ACTIVATOR", "name": name, **fields}
    response = await client.post("/api/operators", headers=actor.headers(), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def assign(client: Client, actor: Actor, route_id: str, body: dict[str, Any]) -> Any:
    return await call(client, actor, "POST", f"{route_id}/operators", json=body)


async def assigned(client: Client, actor: Actor, route_id: str, **body: Any) -> dict[str, Any]:
    return await ok(client, actor, "POST", f"{route_id}/operators", status=201, json=body)


async def links(client: Client, actor: Actor, route_id: str) -> list[dict[str, Any]]:
    return await ok(client, actor, "GET", f"{route_id}/operators")


async def linked_pair(client: Client, actor: Actor, **link: Any) -> dict[str, str]:
    """A route with one assigned operator, as the ids the endpoint templates use."""
    route = await create(client, actor)
    op = await operator(client, actor)
    await assigned(client, actor, route["id"], operatorId=op["id"], **link)
    return {"route": route["id"], "op": op["id"]}


async def set_operator_active(client: Client, actor: Actor, operator_id: str, active: bool) -> None:
    url = f"/api/operators/{operator_id}"
    response = await client.patch(url, headers=actor.headers(), json={"is_active": active})
    assert response.status_code == 200, response.text


# ---- create ----------------------------------------------------------------------------------------
async def test_create_returns_the_route(client: Client, world: World) -> None:
    body = await create(client, world.admin_a, code="R-1", external_id="ext-1", metadata={"zone": "n"})
    assert set(body) == ROUTE_KEYS
    assert (body["name"], body["code"], body["externalId"]) == ("North Route", "R-1", "ext-1")
    assert body["isActive"] is True and body["metadata"] == {"zone": "n"}
    uuid.UUID(body["id"])
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")


async def test_create_defaults(client: Client, world: World) -> None:
    body = await create(client, world.admin_a)
    assert body["code"] is None and body["externalId"] is None and body["metadata"] == {}
    inactive = await create(client, world.admin_a, is_active=False)
    assert inactive["isActive"] is False


async def test_create_duplicate_code_is_409_in_the_same_tenant_only(client: Client, world: World) -> None:
    await create(client, world.admin_a, code="R-1")
    response = await call(client, world.admin_a, "POST", json={"name": "Other", "code": "R-1"})
    assert "code" in assert_error(response, 409)["message"]
    assert (await create(client, world.admin_b, code="R-1"))["code"] == "R-1"


async def test_create_duplicate_external_id_is_409(client: Client, world: World) -> None:
    await create(client, world.admin_a, code="R-1", external_id="ext-1")
    response = await call(
        client, world.admin_a, "POST", json={"name": "O", "code": "R-2", "external_id": "ext-1"}
    )
    assert "external_id" in assert_error(response, 409)["message"]
    assert (await create(client, world.admin_b, external_id="ext-1"))["externalId"] == "ext-1"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "R", "tenant_id": "x"},
        {"name": "R", "externalId": "camel"},
        {"name": ""},
        {"name": "   "},
        {"code": "R-1"},
        {"name": "R", "code": ""},
        {"name": "R", "is_active": "maybe"},
        {"name": "R", "metadata": 5},
    ],
)
async def test_create_rejects(client: Client, world: World, body: dict[str, Any]) -> None:
    assert_error(await call(client, world.admin_a, "POST", json=body), 400)
    assert (await listing(client, world.admin_a))["data"] == []


async def test_create_reactivates_a_soft_deleted_route_by_code(client: Client, world: World) -> None:
    first = await create(client, world.admin_a, code="R-1", metadata={"a": 1})
    await ok(client, world.admin_a, "DELETE", first["id"], status=204)
    again = await create(client, world.admin_a, name="Renamed", code="R-1", metadata={"b": 2})
    assert again["id"] == first["id"] and again["isActive"] is True and again["name"] == "Renamed"
    assert again["metadata"] == {"a": 1, "b": 2}
    assert (await listing(client, world.admin_a))["meta"]["total"] == 1


async def test_create_reactivates_a_soft_deleted_route_by_external_id(client: Client, world: World) -> None:
    first = await create(client, world.admin_a, external_id="ext-1")
    await ok(client, world.admin_a, "DELETE", first["id"], status=204)
    again = await create(client, world.admin_a, external_id="ext-1")
    assert again["id"] == first["id"] and again["isActive"] is True


# ---- list ------------------------------------------------------------------------------------------
async def test_list_filters(client: Client, world: World) -> None:
    north = await create(client, world.admin_a, name="North Coast", code="NC-1")
    south = await create(client, world.admin_a, name="South", code="SOUTH-NORTHBOUND")
    east = await create(client, world.admin_a, name="East", code="E-1", is_active=False)
    await create(client, world.admin_b, name="North B", code="NB")

    assert ids(await listing(client, world.admin_a, search="north")) == [north["id"], south["id"]]
    assert ids(await listing(client, world.admin_a, search="nc-")) == [north["id"]]
    assert ids(await listing(client, world.admin_a, search="_")) == []
    assert ids(await listing(client, world.admin_a, is_active="false")) == [east["id"]]
    assert ids(await listing(client, world.admin_a, is_active="true", search="TH")) == [
        north["id"],
        south["id"],
    ]
    everything = await listing(client, world.admin_a)
    assert ids(everything) == [north["id"], south["id"], east["id"]]
    assert everything["meta"] == {"page": 1, "limit": 25, "total": 3, "totalPages": 1}
    assert set(everything["data"][0]) == ROUTE_KEYS


async def test_list_pages(client: Client, world: World) -> None:
    made = [(await create(client, world.admin_a, code=f"R{n}"))["id"] for n in range(3)]
    second = await listing(client, world.admin_a, page=2, per_page=2)
    assert ids(second) == made[2:]
    assert second["meta"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}
    assert await listing(client, world.admin_a, page=2, limit=2) == second
    for bad in ({"per_page": 101}, {"limit": 101}, {"page": -1}, {"cursor": "nonsense"}):
        assert_error(await call(client, world.admin_a, "GET", params=bad), 400)
    first = await listing(client, world.admin_a, cursor="", limit=2)
    assert ids(first) == made[:2] and set(first["meta"]) == {"limit", "nextCursor"}
    rest = await listing(client, world.admin_a, cursor=first["meta"]["nextCursor"], limit=2)
    assert ids(rest) == made[2:] and rest["meta"] == {"limit": 2, "nextCursor": None}


# ---- get / patch / delete --------------------------------------------------------------------------
async def test_get_route(client: Client, world: World) -> None:
    created = await create(client, world.admin_a, code="R-1")
    assert await fetch(client, world.admin_a, created["id"]) == created
    for path, status in (("not-a-uuid", 400), (str(uuid.uuid4()), 404), (f"{created['id']}x", 400)):
        assert_error(await call(client, world.admin_a, "GET", path), status)


async def test_patch_updates_and_merges_metadata(client: Client, world: World) -> None:
    created = await create(client, world.admin_a, code="R-1", external_id="ext-1", metadata={"a": 1, "b": 2})
    changes = {"name": "Renamed", "code": "R-2", "external_id": None, "metadata": {"b": 3, "c": 4}}
    body = await ok(client, world.admin_a, "PATCH", created["id"], json=changes)
    assert (body["name"], body["code"], body["externalId"]) == ("Renamed", "R-2", None)
    assert body["metadata"] == {"a": 1, "b": 3, "c": 4} and body["isActive"] is True
    assert body["createdAt"] == created["createdAt"]
    assert await fetch(client, world.admin_a, created["id"]) == body


@pytest.mark.parametrize("body", [{"name": ""}, {"id": "x"}, {"isActive": False}, {"metadata": []}])
async def test_patch_rejects(client: Client, world: World, body: dict[str, Any]) -> None:
    route = await create(client, world.admin_a)
    assert_error(await call(client, world.admin_a, "PATCH", route["id"], json=body), 400)
    assert await listing(client, world.admin_a) == {
        "data": [route],
        "meta": {"page": 1, "limit": 25, "total": 1, "totalPages": 1},
    }


@pytest.mark.parametrize("field", ["code", "external_id"])
async def test_patch_unique_clash_is_409(client: Client, world: World, field: str) -> None:
    await create(client, world.admin_a, **{field: "taken"})
    other = await create(client, world.admin_a)
    response = await call(client, world.admin_a, "PATCH", other["id"], json={field: "taken"})
    assert field in assert_error(response, 409)["message"]
    assert await fetch(client, world.admin_a, other["id"]) == other


async def test_delete_is_soft_and_keeps_links(client: Client, world: World) -> None:
    names = await linked_pair(client, world.admin_a)
    assert await ok(client, world.admin_a, "DELETE", names["route"], status=204) is None
    assert (await fetch(client, world.admin_a, names["route"]))["isActive"] is False
    listed = await links(client, world.admin_a, names["route"])
    assert [(link["operatorId"], link["isActive"]) for link in listed] == [(names["op"], True)]
    assert_error(await call(client, world.admin_a, "DELETE", str(uuid.uuid4())), 404)


# ---- operator links --------------------------------------------------------------------------------
async def test_assign_defaults_to_member_and_lists_the_link(client: Client, world: World) -> None:
    route = await create(client, world.admin_a)
    op = await operator(client, world.admin_a, email="olga@a.test")
    link = await assigned(client, world.admin_a, route["id"], operatorId=op["id"])
    assert link == {"routeId": route["id"], "operatorId": op["id"], "role": "MEMBER", "isActive": True}
    [listed] = await links(client, world.admin_a, route["id"])
    assert set(listed) == LINK_KEYS
    assert {k: listed[k] for k in link} == link
    assert (listed["name"], listed["firstName"], listed["lastName"]) == ("Olga Field", "Olga", "Field")
    assert (listed["type"], listed["email"], listed["operatorIsActive"]) == ("ACTIVATOR", "olga@a.test", True)


async def test_assign_is_idempotent(client: Client, world: World) -> None:
    names = await linked_pair(client, world.admin_a)
    route, op = names["route"], names["op"]
    assert (await assigned(client, world.admin_a, route, operatorId=op))["role"] == "MEMBER"
    assert (await assigned(client, world.admin_a, route, operatorId=op, role="LEAD"))["role"] == "LEAD"
    assert (await assigned(client, world.admin_a, route, operatorId=op))["role"] == "LEAD"
    assert (await assigned(client, world.admin_a, route, operatorId=op, role="MEMBER"))["role"] == "MEMBER"
    listed = await links(client, world.admin_a, route)
    assert [(link["operatorId"], link["role"], link["isActive"]) for link in listed] == [(op, "MEMBER", True)]


async def test_assign_orders_leads_first(client: Client, world: World) -> None:
    route = await create(client, world.admin_a)
    member = await operator(client, world.admin_a, name="Ann Member")
    lead = await operator(client, world.admin_a, name="Zed Lead")
    await assigned(client, world.admin_a, route["id"], operatorId=member["id"])
    await assigned(client, world.admin_a, route["id"], operatorId=lead["id"], role="LEAD")
    listed = await links(client, world.admin_a, route["id"])
    assert [(link["operatorId"], link["role"]) for link in listed] == [
        (lead["id"], "LEAD"),
        (member["id"], "MEMBER"),
    ]


async def test_assign_again_reactivates_the_link_of_a_reactivated_operator(
    client: Client, world: World
) -> None:
    names = await linked_pair(client, world.admin_a, role="LEAD")
    route, op = names["route"], names["op"]
    response = await client.delete(f"/api/operators/{op}", headers=world.admin_a.headers())
    assert response.status_code == 204
    refused = await assign(client, world.admin_a, route, {"operatorId": op})
    assert "inactive" in assert_error(refused, 400)["message"]
    await set_operator_active(client, world.admin_a, op, True)
    [stale] = await links(client, world.admin_a, route)
    assert stale["isActive"] is False and stale["operatorIsActive"] is True
    link = await assigned(client, world.admin_a, route, operatorId=op)
    assert link == {"routeId": route, "operatorId": op, "role": "LEAD", "isActive": True}
    [listed] = await links(client, world.admin_a, route)
    assert listed["isActive"] is True and listed["operatorIsActive"] is True


async def test_patch_deactivating_an_operator_deactivates_its_links(client: Client, world: World) -> None:
    names = await linked_pair(client, world.admin_a)
    await set_operator_active(client, world.admin_a, names["op"], False)
    [listed] = await links(client, world.admin_a, names["route"])
    assert listed["isActive"] is False and listed["operatorIsActive"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"operator_id": "{op}"},
        {"operatorId": "{op}", "role": "BOSS"},
        {"operatorId": "not-a-uuid"},
        {"operatorId": "{op}", "routeId": "{op}"},
        {},
    ],
)
async def test_assign_validation(client: Client, world: World, body: dict[str, str]) -> None:
    route = await create(client, world.admin_a)
    op = await operator(client, world.admin_a)
    sent = {k: v.format(op=op["id"]) for k, v in body.items()}
    assert_error(await assign(client, world.admin_a, route["id"], sent), 400)
    assert await links(client, world.admin_a, route["id"]) == []


async def test_assign_unknown_or_foreign_operator_is_404(client: Client, world: World) -> None:
    route = await create(client, world.admin_a)
    theirs = await operator(client, world.admin_b)
    for operator_id in (str(uuid.uuid4()), theirs["id"]):
        response = await assign(client, world.admin_a, route["id"], {"operatorId": operator_id})
        assert "Operator" in assert_error(response, 404)["message"]
    assert await links(client, world.admin_a, route["id"]) == []


async def test_unassign_is_a_hard_delete(client: Client, world: World) -> None:
    route = await create(client, world.admin_a)
    kept, removed = await operator(client, world.admin_a, "Kept One"), await operator(client, world.admin_a)
    for op in (kept, removed):
        await assigned(client, world.admin_a, route["id"], operatorId=op["id"])
    path = f"{route['id']}/operators/{removed['id']}"
    assert await ok(client, world.admin_a, "DELETE", path, status=204) is None
    assert [link["operatorId"] for link in await links(client, world.admin_a, route["id"])] == [kept["id"]]
    assert_error(await call(client, world.admin_a, "DELETE", path), 404)
    assert_error(await call(client, world.admin_a, "DELETE", f"{route['id']}/operators/x"), 400)
    # the operator itself is untouched
    response = await client.get(f"/api/operators/{removed['id']}", headers=world.admin_a.headers())
    assert response.json()["isActive"] is True


# ---- permissions and tenant isolation --------------------------------------------------------------
ID_ENDPOINTS = [
    ("GET", "{route}", None),
    ("PATCH", "{route}", {"name": "X"}),
    ("DELETE", "{route}", None),
    ("GET", "{route}/operators", None),
    ("POST", "{route}/operators", {"operatorId": "{op}"}),
    ("DELETE", "{route}/operators/{op}", None),
]


async def snapshot(client: Client, actor: Actor, route_id: str) -> tuple[Any, Any]:
    """Everything a refused call must leave unchanged: the route list and the route's links."""
    return await listing(client, actor), await links(client, actor, route_id)


def render(suffix: str, body: dict[str, str] | None, names: dict[str, str]) -> tuple[str, Any]:
    return suffix.format(**names), body and {k: v.format(**names) for k, v in body.items()}


@pytest.mark.parametrize(
    ("method", "suffix", "body"), [("GET", "", None), ("POST", "", {"name": "X"}), *ID_ENDPOINTS]
)
async def test_viewer_is_forbidden(
    client: Client, world: World, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    names = await linked_pair(client, world.admin_a)
    before = await snapshot(client, world.admin_a, names["route"])
    viewer = await add_user(client, world.admin_a, "v@a.test", ["VIEWER"])
    path, sent = render(suffix, body, names)
    assert_error(await call(client, viewer, method, path, json=sent), 403)
    assert await snapshot(client, world.admin_a, names["route"]) == before


@pytest.mark.parametrize(("method", "suffix", "body"), ID_ENDPOINTS)
async def test_another_tenants_route_is_404(
    client: Client, world: World, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    names = await linked_pair(client, world.admin_b)
    before = await snapshot(client, world.admin_b, names["route"])
    path, sent = render(suffix, body, names)
    assert_error(await call(client, world.admin_a, method, path, json=sent), 404)
    assert await snapshot(client, world.admin_b, names["route"]) == before


async def test_fde_manages_routes(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    names = await linked_pair(client, fde)
    assert [link["operatorId"] for link in await links(client, fde, names["route"])] == [names["op"]]
