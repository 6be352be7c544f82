"""Operators: create (and reactivation), list (filters, offset pages, keyset walk), get, PATCH, soft delete
and bulk sync; permissions and tenant isolation."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from conftest import Actor, World, add_user, assert_error
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
URL = "/api/operators"
SYNC_URL = f"{URL}/sync"
OPERATOR_KEYS = {
    "id", "name", "firstName", "lastName", "email", "phone", "type", "externalId", "isActive",
    "isPlaceholder", "metadata", "createdAt", "updatedAt",
}  # fmt: skip


async def create(client: Client, actor: Actor, **fields: Any) -> dict[str, Any]:
    body = {"type": "SALESMAN", "name": "John Doe", **fields}
    response = await client.post(URL, headers=actor.headers(), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def fetch(client: Client, actor: Actor, operator_id: str) -> dict[str, Any]:
    response = await client.get(f"{URL}/{operator_id}", headers=actor.headers())
    assert response.status_code == 200, response.text
    return response.json()


async def listing(client: Client, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await client.get(URL, headers=actor.headers(), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [o["id"] for o in page["data"]]


def item(n: int, **fields: Any) -> dict[str, Any]:
    return {"external_id": f"ext-{n}", "type": "SALESMAN", "name": f"Agent Number{n}", **fields}


async def sync(client: Client, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    return await client.post(SYNC_URL, headers=headers, json={"items": items})


async def synced(client: Client, world: World, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = await sync(client, world.admin_a.headers(), items)
    assert response.status_code == 201, response.text
    return response.json()


# ---- create ----------------------------------------------------------------------------------------
async def test_create_returns_the_operator(client: Client, world: World) -> None:
    body = await create(
        client,
        world.admin_a,
        email="john@a.test",
        phone="+56 9 1234",
        external_id="E-1",
        is_placeholder=True,
        metadata={"zone": "north"},
    )
    assert set(body) == OPERATOR_KEYS
    assert (body["name"], body["firstName"], body["lastName"]) == ("John Doe", "John", "Doe")
    assert body["email"] == "john@a.test" and body["phone"] == "+56 9 1234"
    assert body["type"] == "SALESMAN" and body["externalId"] == "E-1"
    assert body["isActive"] is True and body["isPlaceholder"] is True
    assert body["metadata"] == {"zone": "north"}
    uuid.UUID(body["id"])
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")


async def test_create_defaults_and_single_word_name(client: Client, world: World) -> None:
    body = await create(client, world.admin_a, type="CALLCENTER", name="Cher")
    assert (body["name"], body["firstName"], body["lastName"]) == ("Cher", "Cher", "")
    assert body["email"] is None and body["phone"] is None and body["externalId"] is None
    assert body["isPlaceholder"] is False and body["metadata"] == {}


async def test_create_duplicate_email_is_409_in_the_same_tenant_only(client: Client, world: World) -> None:
    await create(client, world.admin_a, email="Jane@A.test")
    response = await client.post(
        URL, headers=world.admin_a.headers(), json={"type": "ACTIVATOR", "name": "J", "email": "jane@a.TEST"}
    )
    assert "email" in assert_error(response, 409)["message"]
    other = await create(client, world.admin_b, email="jane@a.test")
    assert other["email"] == "jane@a.test"


async def test_create_duplicate_type_and_external_id_is_409(client: Client, world: World) -> None:
    await create(client, world.admin_a, external_id="E-1")
    body = {"type": "SALESMAN", "name": "Other", "external_id": "E-1"}
    message = assert_error(await client.post(URL, headers=world.admin_a.headers(), json=body), 409)["message"]
    assert "external_id" in message
    # another type, or another tenant, may use the same external id
    assert (await create(client, world.admin_a, type="ACTIVATOR", external_id="E-1"))["externalId"] == "E-1"
    assert (await create(client, world.admin_b, external_id="E-1"))["externalId"] == "E-1"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "SALESMAN", "name": "A", "tenant_id": "x"},
        {"type": "SALESMAN", "name": "A", "isActive": False},
        {"type": "MANAGER", "name": "A"},
        {"type": "SALESMAN", "name": "A", "email": "not-an-email"},
        {"type": "SALESMAN", "name": ""},
        {"name": "A"},
        {"type": "SALESMAN", "name": "A", "metadata": ["not", "an", "object"]},
    ],
)
async def test_create_validation(client: Client, world: World, body: dict[str, Any]) -> None:
    assert_error(await client.post(URL, headers=world.admin_a.headers(), json=body), 400)
    assert (await listing(client, world.admin_a))["meta"]["total"] == 0


async def test_create_reactivates_a_soft_deleted_twin(client: Client, world: World) -> None:
    first = await create(client, world.admin_a, external_id="E-9", metadata={"a": 1})
    response = await client.delete(f"{URL}/{first['id']}", headers=world.admin_a.headers())
    assert response.status_code == 204
    again = await create(client, world.admin_a, name="Jack Ripley", external_id="E-9", metadata={"b": 2})
    assert again["id"] == first["id"] and again["isActive"] is True
    assert (again["firstName"], again["lastName"]) == ("Jack", "Ripley")
    assert again["metadata"] == {"a": 1, "b": 2}
    assert (await listing(client, world.admin_a))["meta"]["total"] == 1


# ---- list ------------------------------------------------------------------------------------------
async def test_list_filters(client: Client, world: World) -> None:
    alice = await create(client, world.admin_a, name="Alice Smith", email="alice@a.test")
    bob = await create(client, world.admin_a, type="ACTIVATOR", name="Bob Jones", email="bob@corp.test")
    carol = await create(client, world.admin_a, type="CALLCENTER", name="Carol Alison")
    await client.delete(f"{URL}/{carol['id']}", headers=world.admin_a.headers())
    await create(client, world.admin_b, name="Alina Other", email="alina@corp.test")

    assert ids(await listing(client, world.admin_a, search="ALI")) == [alice["id"], carol["id"]]
    assert ids(await listing(client, world.admin_a, search="Corp.TEST")) == [bob["id"]]
    assert ids(await listing(client, world.admin_a, search="e s")) == [alice["id"]]  # across the name parts
    assert ids(await listing(client, world.admin_a, search="%")) == []
    assert ids(await listing(client, world.admin_a, type="ACTIVATOR")) == [bob["id"]]
    assert ids(await listing(client, world.admin_a, is_active="false")) == [carol["id"]]
    assert ids(await listing(client, world.admin_a, is_active="true", search="ali")) == [alice["id"]]
    everything = await listing(client, world.admin_a)
    assert ids(everything) == [alice["id"], bob["id"], carol["id"]]
    assert everything["meta"] == {"page": 1, "limit": 25, "total": 3, "totalPages": 1}
    assert set(everything["data"][0]) == OPERATOR_KEYS
    assert_error(await client.get(URL, headers=world.admin_a.headers(), params={"type": "X"}), 400)


async def test_list_offset_pages(client: Client, world: World) -> None:
    made = [(await create(client, world.admin_a, name=f"Op {n}"))["id"] for n in range(5)]
    second = await listing(client, world.admin_a, page=2, per_page=2)
    assert ids(second) == made[2:4]
    assert second["meta"] == {"page": 2, "limit": 2, "total": 5, "totalPages": 3}
    assert await listing(client, world.admin_a, page=2, limit=2) == second
    beyond = await listing(client, world.admin_a, page=9, per_page=2)
    assert beyond["data"] == [] and beyond["meta"]["total"] == 5
    for bad in ({"per_page": 101}, {"limit": 101}, {"per_page": 0}, {"page": 0}):
        assert_error(await client.get(URL, headers=world.admin_a.headers(), params=bad), 400)


async def test_list_cursor_walk(client: Client, world: World) -> None:
    made = [(await create(client, world.admin_a, name=f"Op {n}"))["id"] for n in range(5)]
    await create(client, world.admin_b, name="Not mine")
    seen: list[str] = []
    cursor: str | None = ""
    pages = 0
    while cursor is not None:
        body = await listing(client, world.admin_a, cursor=cursor, limit=2)
        assert set(body["meta"]) == {"limit", "nextCursor"} and body["meta"]["limit"] == 2
        assert len(body["data"]) <= 2
        seen += ids(body)
        cursor = body["meta"]["nextCursor"]
        pages += 1
    assert seen == made and pages == 3


async def test_list_cursor_exact_fit_ends_with_null(client: Client, world: World) -> None:
    made = [(await create(client, world.admin_a, name=f"Op {n}"))["id"] for n in range(2)]
    body = await listing(client, world.admin_a, cursor="", limit=2)
    assert ids(body) == made and body["meta"] == {"limit": 2, "nextCursor": None}


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"yesterday|nope").decode(),
        base64.urlsafe_b64encode(f"2024-01-01T00:00:00|{uuid.uuid4()}".encode()).decode(),
        base64.urlsafe_b64encode(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}".encode()).decode(),
        "x" * 201,
    ],
)
async def test_list_garbage_cursor_is_400(client: Client, world: World, cursor: str) -> None:
    response = await client.get(URL, headers=world.admin_a.headers(), params={"cursor": cursor})
    assert_error(response, 400)


# ---- get -------------------------------------------------------------------------------------------
async def test_get_operator(client: Client, world: World) -> None:
    created = await create(client, world.admin_a, email="g@a.test")
    assert await fetch(client, world.admin_a, created["id"]) == created
    assert_error(await client.get(f"{URL}/not-a-uuid", headers=world.admin_a.headers()), 400)
    assert_error(await client.get(f"{URL}/{uuid.uuid4()}", headers=world.admin_a.headers()), 404)


# ---- patch -----------------------------------------------------------------------------------------
async def test_patch_updates_and_merges_metadata(client: Client, world: World) -> None:
    created = await create(client, world.admin_a, email="p@a.test", phone="1", metadata={"a": 1, "b": 2})
    response = await client.patch(
        f"{URL}/{created['id']}",
        headers=world.admin_a.headers(),
        json={"name": "Mary Jane Watson", "phone": None, "metadata": {"b": 3, "c": 4}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["firstName"], body["lastName"], body["name"]) == ("Mary", "Jane Watson", "Mary Jane Watson")
    assert body["phone"] is None and body["email"] == "p@a.test"
    assert body["metadata"] == {"a": 1, "b": 3, "c": 4}
    assert body["type"] == created["type"] and body["createdAt"] == created["createdAt"]
    assert await fetch(client, world.admin_a, created["id"]) == body


@pytest.mark.parametrize(
    "body", [{"type": "ACTIVATOR"}, {"external_id": "E-2"}, {"email": "bad"}, {"name": ""}, {"id": "x"}]
)
async def test_patch_validation(client: Client, world: World, body: dict[str, Any]) -> None:
    created = await create(client, world.admin_a, external_id="E-1")
    assert_error(
        await client.patch(f"{URL}/{created['id']}", headers=world.admin_a.headers(), json=body), 400
    )
    assert await fetch(client, world.admin_a, created["id"]) == created


async def test_patch_email_clash_is_409(client: Client, world: World) -> None:
    await create(client, world.admin_a, email="taken@a.test")
    other = await create(client, world.admin_a, email="free@a.test")
    response = await client.patch(
        f"{URL}/{other['id']}", headers=world.admin_a.headers(), json={"email": "TAKEN@a.test"}
    )
    assert "email" in assert_error(response, 409)["message"]
    assert (await fetch(client, world.admin_a, other["id"]))["email"] == "free@a.test"


# ---- delete ----------------------------------------------------------------------------------------
async def test_delete_deactivates_the_operator_and_its_route_links(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    operator = await create(client, world.admin_a)
    route = (await client.post("/api/routes", headers=headers, json={"name": "North"})).json()
    links_url = f"/api/routes/{route['id']}/operators"
    assigned = await client.post(links_url, headers=headers, json={"operatorId": operator["id"]})
    assert assigned.status_code == 201, assigned.text

    response = await client.delete(f"{URL}/{operator['id']}", headers=headers)
    assert response.status_code == 204 and response.content == b""
    assert (await fetch(client, world.admin_a, operator["id"]))["isActive"] is False
    links = (await client.get(links_url, headers=headers)).json()
    assert [(link["operatorId"], link["isActive"], link["operatorIsActive"]) for link in links] == [
        (operator["id"], False, False)
    ]
    assert_error(await client.delete(f"{URL}/{uuid.uuid4()}", headers=headers), 404)


# ---- sync ------------------------------------------------------------------------------------------
async def test_sync_creates_then_repeat_changes_nothing(client: Client, world: World) -> None:
    items = [item(n, email=f"op{n}@a.test", metadata={"n": n}) for n in range(3)]
    assert await synced(client, world, items) == {"created": 3, "updated": 0, "total": 3}
    assert await synced(client, world, items) == {"created": 0, "updated": 0, "total": 3}
    listed = await listing(client, world.admin_a)
    assert [(o["externalId"], o["firstName"], o["lastName"]) for o in listed["data"]] == [
        ("ext-0", "Agent", "Number0"),
        ("ext-1", "Agent", "Number1"),
        ("ext-2", "Agent", "Number2"),
    ]
    assert listed["data"][1]["email"] == "op1@a.test" and listed["data"][1]["metadata"] == {"n": 1}


async def test_sync_counts_only_changed_operators(client: Client, world: World) -> None:
    await synced(client, world, [item(0), item(1, metadata={"a": 1})])
    changed = [item(0, name="Renamed Agent"), item(1, metadata={"b": 2}), item(2)]
    assert await synced(client, world, changed) == {"created": 1, "updated": 2, "total": 3}
    by_external = {o["externalId"]: o for o in (await listing(client, world.admin_a))["data"]}
    assert by_external["ext-0"]["name"] == "Renamed Agent"
    assert by_external["ext-1"]["metadata"] == {"a": 1, "b": 2}


async def test_sync_reactivates_a_soft_deleted_operator(client: Client, world: World) -> None:
    await synced(client, world, [item(0)])
    operator = (await listing(client, world.admin_a))["data"][0]
    await client.delete(f"{URL}/{operator['id']}", headers=world.admin_a.headers())
    assert await synced(client, world, [item(0)]) == {"created": 0, "updated": 1, "total": 1}
    assert (await fetch(client, world.admin_a, operator["id"]))["isActive"] is True


async def test_sync_invalid_item_writes_nothing(client: Client, world: World) -> None:
    items = [item(0), item(1), item(2, type="X"), item(3)]
    body = assert_error(await sync(client, world.admin_a.headers(), items), 400)
    assert "items[2]" in body["message"]
    assert (await listing(client, world.admin_a))["data"] == []


@pytest.mark.parametrize(
    ("items", "named"),
    [
        ([item(0), item(1), item(0, name="Again")], "items[2].external_id"),
        ([item(0, email="same@a.test"), item(1, email="SAME@a.test")], "items[1].email"),
        ([item(0), {"type": "SALESMAN", "name": "No external id"}], "items[1]"),
        ([item(0), item(1, id=str(uuid.uuid4()))], "items[1]"),
        ([], "items"),
    ],
)
async def test_sync_rejects_bad_payloads(
    client: Client, world: World, items: list[dict[str, Any]], named: str
) -> None:
    assert named in assert_error(await sync(client, world.admin_a.headers(), items), 400)["message"]
    assert (await listing(client, world.admin_a))["data"] == []


async def test_sync_item_limit(client: Client, world: World) -> None:
    assert_error(await sync(client, world.admin_a.headers(), [item(n) for n in range(1001)]), 400)
    assert (await listing(client, world.admin_a))["data"] == []
    result = await synced(client, world, [item(n) for n in range(1000)])
    assert result == {"created": 1000, "updated": 0, "total": 1000}


async def test_sync_email_held_by_another_operator_is_409(client: Client, world: World) -> None:
    await create(client, world.admin_a, email="held@a.test", external_id="manual")
    items = [item(0, email="free@a.test"), item(1, email="HELD@a.test")]
    body = assert_error(await sync(client, world.admin_a.headers(), items), 409)
    assert "items[1]" in body["message"] and "email" in body["message"]
    assert (await listing(client, world.admin_a))["meta"]["total"] == 1
    # the operator holding the email may keep it
    await synced(client, world, [item(5, email="other@a.test")])
    assert await synced(client, world, [item(5, email="OTHER@a.test")]) == {
        "created": 0,
        "updated": 1,
        "total": 1,
    }


async def test_sync_same_external_id_in_another_tenant(client: Client, world: World) -> None:
    await synced(client, world, [item(0, email="x@a.test")])
    response = await sync(client, world.admin_b.headers(), [item(0, email="x@a.test")])
    assert response.status_code == 201 and response.json()["created"] == 1
    assert (await listing(client, world.admin_a))["meta"]["total"] == 1


async def test_sync_needs_sync_operators(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert_error(await sync(client, fde.headers(), [item(0)]), 403)
    assert (await listing(client, fde))["data"] == []  # FDE may manage, not sync


async def test_sync_with_an_api_key_uses_the_key_tenant(client: Client, world: World) -> None:
    response = await client.post(
        "/api/api-keys",
        headers=world.admin_a.headers(),
        json={"name": "erp", "permissions": ["SYNC_OPERATORS"]},
    )
    assert response.status_code == 201, response.text
    key_headers = {"x-api-key": response.json()["key"]}
    result = await sync(client, key_headers, [item(0), item(1)])
    assert result.status_code == 201, result.text
    assert result.json() == {"created": 2, "updated": 0, "total": 2}
    assert (await listing(client, world.admin_a))["meta"]["total"] == 2
    assert (await listing(client, world.admin_b))["meta"]["total"] == 0
    assert_error(await client.get(URL, headers=key_headers), 403)  # the key lacks MANAGE_OPERATORS


# ---- permissions and tenant isolation --------------------------------------------------------------
ID_ENDPOINTS = [
    ("GET", "{id}", None),
    ("PATCH", "{id}", {"name": "X"}),
    ("DELETE", "{id}", None),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "", {"type": "SALESMAN", "name": "X"}),
        ("POST", "sync", {"items": [item(0)]}),
        *ID_ENDPOINTS,
    ],
)
async def test_viewer_is_forbidden(
    client: Client, world: World, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    operator = await create(client, world.admin_a)
    viewer = await add_user(client, world.admin_a, "v@a.test", ["VIEWER"])
    url = f"{URL}/{suffix.format(id=operator['id'])}".rstrip("/")
    assert_error(await client.request(method, url, headers=viewer.headers(), json=body), 403)
    assert (await listing(client, world.admin_a))["data"] == [operator]


@pytest.mark.parametrize(("method", "suffix", "body"), ID_ENDPOINTS)
async def test_another_tenants_operator_is_404(
    client: Client, world: World, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    theirs = await create(client, world.admin_b)
    url = f"{URL}/{suffix.format(id=theirs['id'])}"
    assert_error(await client.request(method, url, headers=world.admin_a.headers(), json=body), 404)
    assert await fetch(client, world.admin_b, theirs["id"]) == theirs


async def test_fde_manages_operators(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    created = await create(client, fde, name="Made By Fde")
    assert ids(await listing(client, fde)) == [created["id"]]


async def test_viewer_and_anonymous_cannot_list(client: Client, world: World) -> None:
    viewer = await add_user(client, world.admin_a, "v@a.test", ["VIEWER"])
    for url in (URL, "/api/routes"):
        assert_error(await client.get(url, headers=viewer.headers()), 403)
        assert_error(await client.get(url), 401)
