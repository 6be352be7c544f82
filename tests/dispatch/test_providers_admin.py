"""SUPER_ADMIN writes on the global providers (an addition): register, define channels, switch off; and a
tenant's config is then checked against what was defined."""

from __future__ import annotations

from typing import Any

from activities.helpers import ok
from conftest import World, assert_error

TOKEN_SCHEMA = [{"key": "token", "label": "Token", "type": "password", "required": True}]


async def _acme(client: Any, world: World) -> dict:
    body = {"code": "ACME", "name": "Acme Field", "protocolType": "REST"}
    return await ok(client, world.root, "POST", "/api/dispatch-providers", 201, json=body)


async def test_register_a_provider_and_its_channel(client: Any, world: World) -> None:
    acme = await _acme(client, world)
    assert acme["code"] == "ACME" and acme["isActive"] is True and acme["channelDefinitions"] == []
    url = f"/api/dispatch-providers/{acme['id']}/channel-definitions/SALESMAN"
    body = {"credentialSchema": TOKEN_SCHEMA, "settingsSchema": []}
    defined = await ok(client, world.root, "PUT", url, 200, json=body)
    assert defined["channel"] == "SALESMAN" and defined["credentialSchema"] == TOKEN_SCHEMA
    again = await ok(client, world.root, "PUT", url, 200, json={"credentialSchema": []})  # replaces
    assert again["id"] == defined["id"] and again["credentialSchema"] == []
    listed = await ok(client, world.admin_a, "GET", "/api/dispatch-providers")
    assert [p["code"] for p in listed] == ["ACME", "MOCK", "YOM"]
    assert_error(await client.post("/api/dispatch-providers", headers=world.root.headers(), json={
        "code": "ACME", "name": "Again", "protocolType": "REST"}), 409)  # fmt: skip


async def test_only_a_super_admin_writes_providers(client: Any, world: World) -> None:
    acme = await _acme(client, world)
    admin = world.admin_a.headers()
    body = {"code": "OTHER", "name": "Other", "protocolType": "MOCK"}
    assert_error(await client.post("/api/dispatch-providers", headers=admin, json=body), 403)
    assert_error(
        await client.patch(f"/api/dispatch-providers/{acme['id']}", headers=admin, json={"name": "X"}), 403
    )
    url = f"/api/dispatch-providers/{acme['id']}/channel-definitions/SALESMAN"
    assert_error(await client.put(url, headers=admin, json={}), 403)


async def test_bad_provider_writes(client: Any, world: World) -> None:
    acme = await _acme(client, world)
    root = world.root.headers()
    for body in (
        {"code": "acme2", "name": "lower case code", "protocolType": "REST"},
        {"code": "ACME2", "name": "Bad protocol", "protocolType": "SOAP"},
        {"code": "ACME2", "name": " ", "protocolType": "REST"},
        {"code": "ACME2", "name": "Extra", "protocolType": "REST", "id": "x"},
        {"code": "ACME2\n", "name": "Trailing newline", "protocolType": "REST"},  # `$` allowed it
    ):
        assert_error(await client.post("/api/dispatch-providers", headers=root, json=body), 400)
    base = f"/api/dispatch-providers/{acme['id']}/channel-definitions"
    dup = {"credentialSchema": TOKEN_SCHEMA + TOKEN_SCHEMA}
    assert_error(await client.put(f"{base}/SALESMAN", headers=root, json=dup), 400)
    assert_error(await client.put(f"{base}/TELEGRAM", headers=root, json={}), 400)
    bad_type = {"credentialSchema": [{"key": "k", "label": "K", "type": "secret"}]}
    assert_error(await client.put(f"{base}/SALESMAN", headers=root, json=bad_type), 400)
    newline = {"credentialSchema": [{"key": "apiKey\n", "label": "K", "type": "password"}]}
    assert_error(await client.put(f"{base}/SALESMAN", headers=root, json=newline), 400)
    unknown = "/api/dispatch-providers/00000000-0000-0000-0000-000000000001"
    assert_error(await client.put(f"{unknown}/channel-definitions/SALESMAN", headers=root, json={}), 404)
    assert_error(await client.patch(unknown, headers=root, json={"isActive": False}), 404)


async def test_configs_follow_the_definitions_and_the_switch(client: Any, world: World) -> None:
    acme = await _acme(client, world)
    url = f"/api/dispatch-providers/{acme['id']}/channel-definitions/SALESMAN"
    await ok(client, world.root, "PUT", url, 200, json={"credentialSchema": TOKEN_SCHEMA})
    body: dict[str, Any] = {"dispatchProviderId": acme["id"], "channel": "SALESMAN"}
    body["baseUrl"] = "https://acme.example/api"
    assert_error(await client.post("/api/dispatch-configs", headers=world.admin_a.headers(), json=body), 400)
    body["credentials"] = {"token": "t-1"}
    config = await ok(client, world.admin_a, "POST", "/api/dispatch-configs", 201, json=body)
    assert config["dispatchProvider"] == {"code": "ACME", "name": "Acme Field"}
    await ok(
        client, world.root, "PATCH", f"/api/dispatch-providers/{acme['id']}", 200, json={"isActive": False}
    )
    body["channel"], body["credentials"] = "CALLCENTER", {"token": "t-2"}
    assert_error(await client.post("/api/dispatch-configs", headers=world.admin_a.headers(), json=body), 400)
    # switching the existing config off still works with its provider off
    await ok(
        client, world.admin_a, "PATCH", f"/api/dispatch-configs/{config['id']}", 200, json={"isActive": False}
    )
