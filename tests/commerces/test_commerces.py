"""Commerces: list/get/create/patch/delete, sync, addresses, commerce users, roles and contacts."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import World, add_user, assert_error
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def item(external_id: str, **fields: Any) -> dict[str, Any]:
    return {"external_id": external_id, "name": f"Store {external_id}", **fields}


def full_item(external_id: str) -> dict[str, Any]:
    """A sync item with two addresses and two people (the shape the benchmark uses)."""
    return item(
        external_id,
        tax_id=f"tax-{external_id}",
        metadata={"zone": "north"},
        addresses=[
            {"source_ref": f"{external_id}-a1", "street": "Main", "street_number": "1", "is_primary": True},
            {"source_ref": f"{external_id}-a2", "street": "Side", "city": "Santiago", "latitude": -33.4},
        ],
        users=[
            {
                "external_id": f"{external_id}-u1",
                "name": "Maria Garcia",
                "roles": ["OWNER"],
                "contacts": [{"contact_type": "PHONE", "value": "+56912345678", "is_primary": True}],
            },
            {"external_id": f"{external_id}-u2", "name": "Juan", "roles": ["COMMERCE_REP", "ORDERS"]},
        ],
    )


async def sync(client: Client, headers: dict[str, str], items: list[dict[str, Any]]) -> Any:
    return await client.post("/api/commerces/sync", headers=headers, json={"items": items})


async def create(client: Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/commerces", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ---- sync ------------------------------------------------------------------------------------------
async def test_sync_creates_then_repeat_changes_nothing(client: Client, world: World) -> None:
    items = [full_item(f"s-{n}") for n in range(3)]
    first = await sync(client, world.admin_a.headers(), items)
    assert first.status_code == 201, first.text
    assert first.json() == {"created": 3, "updated": 0, "total": 3}
    again = await sync(client, world.admin_a.headers(), items)
    assert again.json() == {"created": 0, "updated": 0, "total": 3}

    listed = (await client.get("/api/commerces", headers=world.admin_a.headers())).json()
    assert listed["meta"] == {"page": 1, "limit": 25, "total": 3, "totalPages": 1}
    assert [c["externalId"] for c in listed["data"]] == ["s-0", "s-1", "s-2"]  # the order sent
    detail = (
        await client.get(f"/api/commerces/{listed['data'][0]['id']}", headers=world.admin_a.headers())
    ).json()
    assert detail["externalId"] == "s-0" and detail["taxId"] == "tax-s-0"
    assert [(a["street"], a["isPrimary"], a["isActive"]) for a in detail["addresses"]] == [
        ("Main", True, True),
        ("Side", False, True),
    ]
    maria, juan = detail["users"]
    assert (maria["firstName"], maria["lastName"], maria["name"]) == ("Maria", "Garcia", "Maria Garcia")
    assert maria["roles"] == [{"role": "OWNER"}]
    assert [(c["type"], c["value"], c["isPrimary"]) for c in maria["contacts"]] == [
        ("PHONE", "+56912345678", True)
    ]
    assert sorted(r["role"] for r in juan["roles"]) == ["COMMERCE_REP", "ORDERS"]
    assert (juan["firstName"], juan["lastName"]) == ("Juan", "")


async def test_sync_updates_nested_rows_and_counts_the_commerce_once(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    await sync(client, headers, [full_item("n-1"), full_item("n-2")])
    changed = full_item("n-1")
    changed["addresses"][1]["is_primary"] = True  # the second address becomes primary
    changed["addresses"][0]["is_primary"] = False
    changed["users"][0]["roles"] = ["FINANCE"]
    changed["users"][0]["contacts"].append({"contact_type": "EMAIL", "value": "m@x.test"})
    changed["metadata"] = {"tier": "gold"}
    result = await sync(client, headers, [changed, full_item("n-2")])
    assert result.json() == {"created": 0, "updated": 1, "total": 2}

    listed = (await client.get("/api/commerces?external_id=n-1", headers=headers)).json()["data"]
    detail = (await client.get(f"/api/commerces/{listed[0]['id']}", headers=headers)).json()
    assert [(a["sourceRef"], a["isPrimary"]) for a in detail["addresses"]] == [
        ("n-1-a2", True),
        ("n-1-a1", False),
    ]
    assert detail["metadata"] == {"zone": "north", "tier": "gold"}  # merged
    maria = detail["users"][0]
    assert maria["roles"] == [{"role": "FINANCE"}]
    assert sorted(c["type"] for c in maria["contacts"]) == ["EMAIL", "PHONE"]


async def test_sync_matches_primary_and_unreferenced_addresses(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    body = item("m-1", addresses=[{"street": "Main", "is_primary": True}, {"street": "Back"}])
    assert (await sync(client, headers, [body])).json()["created"] == 1
    # No source_ref: the primary matches the current primary, the other matches by identical content.
    body["addresses"][0]["street"] = "Main 2"
    assert (await sync(client, headers, [body])).json() == {"created": 0, "updated": 1, "total": 1}
    assert (await sync(client, headers, [body])).json() == {"created": 0, "updated": 0, "total": 1}
    commerce = (await client.get("/api/commerces?external_id=m-1", headers=headers)).json()["data"][0]
    detail = (await client.get(f"/api/commerces/{commerce['id']}", headers=headers)).json()
    assert sorted(a["street"] for a in detail["addresses"]) == ["Back", "Main 2"]


async def test_sync_invalid_item_names_index_and_writes_nothing(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    items = [item("ok-1"), item("ok-2"), {"external_id": "bad", "name": ""}]
    body = assert_error(await sync(client, headers, items), 400)
    assert "items[2].name" in body["message"]
    bad_contact = full_item("c-1")
    bad_contact["users"][0]["contacts"][0]["value"] = "12345"
    body = assert_error(await sync(client, headers, [item("ok-1"), bad_contact]), 400)
    assert "items[1].users[0].contacts[0].value" in body["message"]
    two_primaries = item("p-1", addresses=[{"is_primary": True}, {"is_primary": True}])
    assert (
        "items[0].addresses[1].is_primary"
        in assert_error(await sync(client, headers, [two_primaries]), 400)["message"]
    )
    duplicate = assert_error(await sync(client, headers, [item("d-1"), item("d-1")]), 400)
    assert "items[1].external_id" in duplicate["message"]
    assert_error(await sync(client, headers, []), 400)
    assert_error(await sync(client, headers, [item(f"x-{n}") for n in range(1001)]), 400)
    assert_error(await sync(client, headers, [{**item("u-1"), "id": str(uuid.uuid4())}]), 400)
    listed = (await client.get("/api/commerces", headers=headers)).json()
    assert listed["meta"]["total"] == 0


async def test_sync_tax_id_conflict_names_item_and_is_per_tenant(client: Client, world: World) -> None:
    await sync(client, world.admin_a.headers(), [item("t-1", tax_id="77")])
    conflict = await sync(client, world.admin_a.headers(), [item("t-0"), item("t-2", tax_id="77")])
    assert "items[1].tax_id" in assert_error(conflict, 409)["message"]
    other_tenant = await sync(client, world.admin_b.headers(), [item("t-1", tax_id="77")])
    assert other_tenant.json() == {"created": 1, "updated": 0, "total": 1}


async def test_sync_needs_sync_commerces(client: Client, world: World) -> None:
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    assert_error(await sync(client, fde.headers(), [item("f-1")]), 403)
    key = await client.post(
        "/api/api-keys",
        headers=world.admin_a.headers(),
        json={"name": "erp", "permissions": ["sync_commerces"]},
    )
    by_key = await sync(client, {"x-api-key": key.json()["plaintextKey"]}, [item("k-1")])
    assert by_key.json() == {"created": 1, "updated": 0, "total": 1}
    # The key selected tenant A: tenant B sees nothing.
    assert (await client.get("/api/commerces", headers=world.admin_b.headers())).json()["data"] == []


async def test_sync_reactivates_and_promotes_placeholders(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    created = await create(client, headers, item("r-1", is_placeholder=True))
    assert (await client.delete(f"/api/commerces/{created['id']}", headers=headers)).status_code == 204
    assert (await sync(client, headers, [item("r-1")])).json() == {"created": 0, "updated": 1, "total": 1}
    after = (await client.get(f"/api/commerces/{created['id']}", headers=headers)).json()
    assert after["isActive"] is True and after["isPlaceholder"] is False


# ---- list / get / create / patch / delete ------------------------------------------------------------
async def test_list_filters_and_pagination(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    await sync(
        client,
        headers,
        [
            item("alpha-1", name="Main Street Store", global_external_id="g-1"),
            item("beta-2", name="Corner Shop"),
            item("gamma_3", name="100% Organic"),
        ],
    )
    await create(client, headers, item("ph-1", is_placeholder=True))

    async def names(query: str) -> list[str]:
        response = await client.get(f"/api/commerces?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["data"]]

    assert await names("search=main") == ["Main Street Store"]
    assert await names("search=BETA") == ["Corner Shop"]
    assert await names("search=100%25") == ["100% Organic"]  # wildcards are literal
    assert await names("search=a_1") == []  # "_" is not a wildcard ("alpha-1" does not match)
    assert await names("search=a_3") == ["100% Organic"]
    assert await names("global_external_id=g-1") == ["Main Street Store"]
    assert await names("is_placeholder=true") == ["Store ph-1"]
    assert len(await names("is_active=true")) == 4
    page = (await client.get("/api/commerces?page=2&limit=3", headers=headers)).json()
    assert page["meta"] == {"page": 2, "limit": 3, "total": 4, "totalPages": 2}
    assert len(page["data"]) == 1
    assert set(page["data"][0]) == {
        "id", "name", "externalId", "globalExternalId", "taxId", "isActive", "isPlaceholder", "metadata",
        "createdAt", "updatedAt",
    }  # fmt: skip
    assert_error(await client.get("/api/commerces?per_page=101", headers=headers), 400)
    assert_error(await client.get("/api/commerces?page=0", headers=headers), 400)


async def test_cursor_walk_returns_every_row_once(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    await sync(client, headers, [item(f"w-{n:02d}") for n in range(7)])
    seen: list[str] = []
    url = "/api/commerces?cursor=&limit=3"
    while True:
        body = (await client.get(url, headers=headers)).json()
        assert set(body["meta"]) == {"limit", "nextCursor"}
        seen += [c["externalId"] for c in body["data"]]
        if body["meta"]["nextCursor"] is None:
            break
        url = f"/api/commerces?limit=3&cursor={body['meta']['nextCursor']}"
    assert sorted(seen) == [f"w-{n:02d}" for n in range(7)] and len(seen) == 7
    assert_error(await client.get("/api/commerces?cursor=garbage!", headers=headers), 400)


async def test_create_get_and_cross_tenant(client: Client, world: World) -> None:
    created = await create(client, world.admin_a.headers(), full_item("c-1"))
    assert created["externalId"] == "c-1" and len(created["addresses"]) == 2 and len(created["users"]) == 2
    url = f"/api/commerces/{created['id']}"
    assert (await client.get(url, headers=world.admin_a.headers())).json() == created
    assert_error(await client.get(url, headers=world.admin_b.headers()), 404)
    assert_error(await client.patch(url, headers=world.admin_b.headers(), json={"name": "x"}), 404)
    assert_error(await client.delete(url, headers=world.admin_b.headers()), 404)
    assert_error(await client.get("/api/commerces/not-a-uuid", headers=world.admin_a.headers()), 400)
    # Same external_id and tax_id in another tenant are fine; twice in one tenant is a conflict.
    await create(client, world.admin_b.headers(), full_item("c-1"))
    dup = await client.post("/api/commerces", headers=world.admin_a.headers(), json=item("c-1"))
    assert "external_id" in assert_error(dup, 409)["message"]
    tax = await client.post(
        "/api/commerces", headers=world.admin_a.headers(), json=item("c-2", tax_id="tax-c-1")
    )
    assert "tax_id" in assert_error(tax, 409)["message"]


async def test_create_validation_and_permissions(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    for bad in (
        {"name": "no external id"},
        item("v-1", name="   "),
        {**item("v-1"), "tenant_id": str(world.tenant_b)},
        {**item("v-1"), "metadata": []},
        item("v-1", addresses=[{"latitude": 91}]),
        item("v-1", users=[{"external_id": "u", "roles": ["KING"]}]),
    ):
        assert_error(await client.post("/api/commerces", headers=headers, json=bad), 400)
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    assert_error(await client.post("/api/commerces", headers=viewer.headers(), json=item("v-2")), 403)
    assert_error(await client.get("/api/commerces", headers=viewer.headers()), 403)
    assert_error(await client.get("/api/commerces"), 401)


async def test_patch_merges_metadata_and_checks_tax_id(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    first = await create(client, headers, item("p-1", tax_id="1", metadata={"a": 1, "b": 2}))
    await create(client, headers, item("p-2", tax_id="2"))
    url = f"/api/commerces/{first['id']}"
    patched = await client.patch(url, headers=headers, json={"name": "New", "metadata": {"b": 3, "c": 4}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"] == {"a": 1, "b": 3, "c": 4}
    assert patched.json()["name"] == "New" and patched.json()["taxId"] == "1"
    assert (
        "tax_id"
        in assert_error(await client.patch(url, headers=headers, json={"tax_id": "2"}), 409)["message"]
    )
    cleared = await client.patch(url, headers=headers, json={"tax_id": None})
    assert cleared.json()["taxId"] is None
    assert_error(await client.patch(url, headers=headers, json={"external_id": "x"}), 400)
    assert_error(await client.patch(url, headers=headers, json={"name": ""}), 400)


async def test_delete_is_soft_and_create_reactivates(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    created = await create(client, headers, item("d-1"))
    url = f"/api/commerces/{created['id']}"
    assert (await client.delete(url, headers=headers)).status_code == 204
    assert (await client.get(url, headers=headers)).json()["isActive"] is False
    assert (await client.get("/api/commerces?is_active=false", headers=headers)).json()["meta"]["total"] == 1
    again = await create(client, headers, item("d-1", name="Back"))
    assert again["id"] == created["id"] and again["isActive"] is True and again["name"] == "Back"
    missing = f"/api/commerces/{uuid.uuid4()}"
    assert_error(await client.delete(missing, headers=headers), 404)


# ---- addresses ---------------------------------------------------------------------------------------
async def test_addresses_one_primary_per_commerce(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    commerce = await create(client, headers, full_item("a-1"))
    base = f"/api/commerces/{commerce['id']}/addresses"
    first_primary = commerce["addresses"][0]
    added = await client.post(
        base,
        headers=headers,
        json={"source": "RETEN", "street": "456 Oak", "latitude": -33.45, "is_primary": True},
    )
    assert added.status_code == 201, added.text
    assert added.json()["isPrimary"] is True and added.json()["source"] == "RETEN"
    detail = (await client.get(f"/api/commerces/{commerce['id']}", headers=headers)).json()
    assert [a["id"] for a in detail["addresses"] if a["isPrimary"]] == [added.json()["id"]]

    # PATCH the old one back to primary; source/source_ref cannot change.
    url = f"{base}/{first_primary['id']}"
    patched = await client.patch(url, headers=headers, json={"is_primary": True, "city": "Lima"})
    assert patched.json()["isPrimary"] is True and patched.json()["city"] == "Lima"
    assert patched.json()["street"] == first_primary["street"]
    assert_error(await client.patch(url, headers=headers, json={"source": "RETEN"}), 400)
    assert_error(await client.patch(url, headers=headers, json={"source_ref": "x"}), 400)
    assert_error(await client.post(base, headers=headers, json={"street": "no source"}), 400)
    dup = await client.post(base, headers=headers, json={"source": "RETEN", "source_ref": "a-1-a2"})
    assert "source_ref" in assert_error(dup, 409)["message"]

    assert (await client.delete(url, headers=headers)).status_code == 204
    detail = (await client.get(f"/api/commerces/{commerce['id']}", headers=headers)).json()
    removed = next(a for a in detail["addresses"] if a["id"] == first_primary["id"])
    assert removed["isActive"] is False and removed["isPrimary"] is False
    inactive_primary = await client.patch(url, headers=headers, json={"is_primary": True})
    assert_error(inactive_primary, 400)


async def test_addresses_cross_tenant_and_cross_commerce_are_404(client: Client, world: World) -> None:
    mine = await create(client, world.admin_a.headers(), full_item("x-1"))
    other = await create(client, world.admin_a.headers(), item("x-2"))
    theirs = await create(client, world.admin_b.headers(), full_item("x-1"))
    address = mine["addresses"][0]["id"]
    body = {"source": "RETEN", "street": "s"}
    assert_error(
        await client.post(
            f"/api/commerces/{theirs['id']}/addresses", headers=world.admin_a.headers(), json=body
        ),
        404,
    )
    wrong_parent = f"/api/commerces/{other['id']}/addresses/{address}"
    assert_error(await client.patch(wrong_parent, headers=world.admin_a.headers(), json={"city": "x"}), 404)
    foreign = f"/api/commerces/{mine['id']}/addresses/{address}"
    assert_error(await client.patch(foreign, headers=world.admin_b.headers(), json={"city": "x"}), 404)
    assert_error(await client.delete(foreign, headers=world.admin_b.headers()), 404)
    viewer = await add_user(client, world.admin_a, "v@a.test", ["VIEWER"])
    assert_error(await client.delete(foreign, headers=viewer.headers()), 403)


# ---- commerce users, roles, contacts -------------------------------------------------------------------
async def test_commerce_users_roles_and_contacts(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    commerce = await create(client, headers, item("u-1"))
    base = f"/api/commerces/{commerce['id']}/users"
    person = await client.post(
        base,
        headers=headers,
        json={"name": "Maria de la Cruz", "external_id": "usr-001", "source": "RETEN", "roles": ["OWNER"]},
    )
    assert person.status_code == 201, person.text
    p = person.json()
    assert (p["firstName"], p["lastName"], p["roles"], p["contacts"]) == (
        "Maria",
        "de la Cruz",
        [{"role": "OWNER"}],
        [],
    )
    url = f"{base}/{p['id']}"
    dup = await client.post(base, headers=headers, json={"external_id": "usr-001"})
    assert "external_id" in assert_error(dup, 409)["message"]

    assert (await client.post(f"{url}/roles", headers=headers, json={"role": "FINANCE"})).status_code == 201
    again = await client.post(f"{url}/roles", headers=headers, json={"role": "FINANCE"})
    assert sorted(r["role"] for r in again.json()["roles"]) == ["FINANCE", "OWNER"]
    assert_error(await client.post(f"{url}/roles", headers=headers, json={"role": "KING"}), 400)
    assert (await client.delete(f"{url}/roles/OWNER", headers=headers)).status_code == 204
    assert_error(await client.delete(f"{url}/roles/OWNER", headers=headers), 404)
    assert_error(await client.delete(f"{url}/roles/KING", headers=headers), 400)

    contacts = f"{url}/contacts"
    email = await client.post(
        contacts,
        headers=headers,
        json={"contact_type": "EMAIL", "value": "m@x.test", "source": "RETEN", "is_primary": True},
    )
    assert email.status_code == 201, email.text
    assert email.json()["type"] == "EMAIL" and email.json()["isPrimary"] is True
    for bad in (
        {"contact_type": "EMAIL", "value": "nope", "source": "RETEN"},
        {"contact_type": "PHONE", "value": "912345678", "source": "RETEN"},
        {"contact_type": "WHATSAPP", "value": "+5691234x", "source": "RETEN"},
        {"contact_type": "PHONE", "value": "+56912345678"},
    ):
        assert_error(await client.post(contacts, headers=headers, json=bad), 400)
    other = await client.post(
        contacts, headers=headers, json={"contact_type": "OTHER", "value": "desk 4", "source": "RETEN"}
    )
    assert other.status_code == 201
    dup = await client.post(
        contacts, headers=headers, json={"contact_type": "EMAIL", "value": "m@x.test", "source": "RETEN"}
    )
    assert_error(dup, 409)
    second = await client.post(
        contacts,
        headers=headers,
        json={"contact_type": "EMAIL", "value": "n@x.test", "source": "INTEGRATION", "is_primary": True},
    )
    detail = (await client.get(f"/api/commerces/{commerce['id']}", headers=headers)).json()
    primaries = [c["value"] for c in detail["users"][0]["contacts"] if c["isPrimary"]]
    assert primaries == ["n@x.test"]

    contact_url = f"{contacts}/{second.json()['id']}"
    assert_error(await client.patch(contact_url, headers=headers, json={"contact_type": "PHONE"}), 400)
    patched = await client.patch(contact_url, headers=headers, json={"value": "o@x.test"})
    assert patched.json()["value"] == "o@x.test"
    assert (await client.delete(contact_url, headers=headers)).status_code == 204
    # A removed contact comes back on POST of the same type and value.
    back = await client.post(
        contacts, headers=headers, json={"contact_type": "EMAIL", "value": "o@x.test", "source": "RETEN"}
    )
    assert (
        back.status_code == 201
        and back.json()["id"] == second.json()["id"]
        and back.json()["isActive"] is True
    )

    patched_user = await client.patch(url, headers=headers, json={"name": "Ana Ruiz"})
    assert (patched_user.json()["firstName"], patched_user.json()["lastName"]) == ("Ana", "Ruiz")
    assert (await client.delete(url, headers=headers)).status_code == 204
    detail = (await client.get(f"/api/commerces/{commerce['id']}", headers=headers)).json()
    assert detail["users"][0]["isActive"] is False


async def test_commerce_users_cross_tenant_is_404(client: Client, world: World) -> None:
    mine = await create(client, world.admin_a.headers(), full_item("cu-1"))
    other = await create(client, world.admin_a.headers(), item("cu-2"))
    person = mine["users"][0]
    contact = person["contacts"][0]
    a, b = world.admin_a.headers(), world.admin_b.headers()
    url = f"/api/commerces/{mine['id']}/users/{person['id']}"
    assert_error(await client.patch(url, headers=b, json={"name": "x"}), 404)
    assert_error(await client.delete(url, headers=b), 404)
    assert_error(await client.post(f"{url}/roles", headers=b, json={"role": "OTHER"}), 404)
    assert_error(
        await client.patch(f"{url}/contacts/{contact['id']}", headers=b, json={"value": "+56900000000"}), 404
    )
    assert_error(await client.post(f"/api/commerces/{mine['id']}/users", headers=b, json={"name": "x"}), 404)
    # A person under the wrong commerce is not found either.
    wrong = f"/api/commerces/{other['id']}/users/{person['id']}"
    assert_error(await client.patch(wrong, headers=a, json={"name": "x"}), 404)
    assert_error(await client.delete(f"{wrong}/contacts/{contact['id']}", headers=a), 404)
    viewer = await add_user(client, world.admin_a, "viewer2@a.test", ["VIEWER"])
    assert_error(await client.post(f"{url}/roles", headers=viewer.headers(), json={"role": "OTHER"}), 403)
