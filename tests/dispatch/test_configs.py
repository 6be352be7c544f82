"""/api/dispatch-providers (global, seeded YOM and MOCK) and /api/dispatch-configs (the tenant's): the seeded
catalogue, both body revisions, credentials encrypted and never returned, the provider/channel/credential
rules, the baseUrl address rules, one active config per channel (409), soft delete, permissions (reads
VIEW_ACTIVITIES, writes MANAGE_ACTIVITY_CONFIG) and tenant isolation (another tenant's id -> 404)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import asyncpg
from activities.helpers import Client, ok
from conftest import TEST_KEY_RING, Actor, World, add_user, assert_error

from app.crypto import KeyRing, credentials_aad

PROVIDERS = "/api/dispatch-providers"
CONFIGS = "/api/dispatch-configs"
LOCAL = "http://127.0.0.1:9/yom"  # allowed only by the test settings (plain http + loopback allowlist)
SECRET = "sk-live-0123456789-do-not-leak"
OTHER_SECRET = "sk-live-9876543210-replacement"
MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONFIG_KEYS = {
    "id", "dispatchProviderId", "channel", "baseUrl", "settings", "isActive", "hasCredentials",
    "dispatchProvider", "createdAt", "updatedAt",
}  # fmt: skip
DEFINITION_KEYS = {
    "id", "dispatchProviderId", "channel", "credentialSchema", "settingsSchema", "createdAt", "updatedAt",
}  # fmt: skip
API_KEY_SCHEMA = [{"key": "apiKey", "label": "API Key", "type": "password", "required": True}]
ALL_CHANNELS = ["CALLCENTER", "EMAIL", "PUSH", "SALESMAN", "SMS", "WHATSAPP"]  # by channel


# ---------------------------------------------------------------------------------------------- helpers


async def provider_ids(client: Client, actor: Actor) -> dict[str, str]:
    return {p["code"]: p["id"] for p in await ok(client, actor, "GET", PROVIDERS)}


async def configs(client: Client, actor: Actor) -> list[dict[str, Any]]:
    return await ok(client, actor, "GET", CONFIGS)


def shown_once(created: dict[str, Any]) -> dict[str, Any]:
    """A create answer as the config reads afterwards: without the signing secret it alone shows
    (tests/dispatch/test_signing.py checks the secret itself)."""
    assert created.pop("signingSecret").startswith("whsec_"), created
    return created


async def yom(
    client: Client, actor: Actor, ids: dict[str, str], channel: str = "SALESMAN", **extra: Any
) -> Any:
    body = {
        "dispatchProviderId": ids["YOM"],
        "channel": channel,
        "baseUrl": LOCAL,
        "credentials": {"apiKey": SECRET},
        **extra,
    }
    return shown_once(await ok(client, actor, "POST", CONFIGS, 201, json=body))


async def mock(
    client: Client, actor: Actor, ids: dict[str, str], channel: str = "WHATSAPP", **extra: Any
) -> Any:
    body = {"dispatch_provider_id": ids["MOCK"], "channel": channel, **extra}
    return shown_once(await ok(client, actor, "POST", CONFIGS, 201, json=body))


async def stored(pool: asyncpg.Pool, tenant: uuid.UUID, config_id: str) -> asyncpg.Record:
    """The row as the application role sees it in ``tenant`` (RLS applies)."""
    async with pool.acquire() as c, c.transaction():
        await c.execute(f"set local app.tenant_id = '{tenant}'")
        row = await c.fetchrow(
            "select credentials, credentials_key_id, base_url, settings, is_active, channel"
            " from app.dispatch_configs where id = $1",
            uuid.UUID(config_id),
        )
    assert row is not None
    return row


def decrypt(tenant: uuid.UUID, config_id: str, row: Any) -> dict[str, str]:
    """The stored row's credentials, decrypted as the service does: bound to tenant, row and URL."""
    aad = credentials_aad(tenant, uuid.UUID(config_id), row["base_url"])
    return json.loads(KeyRing.parse(TEST_KEY_RING).decrypt(bytes(row["credentials"]), aad))


def field_error(response: Any, field: str) -> dict[str, Any]:
    """A 400 that names ``field`` (in ``details`` or at the start of the message)."""
    body = assert_error(response, 400)
    fields = [d["field"] for d in body.get("details") or []]
    assert field in fields or body["message"].startswith(field), (field, body)
    return body


def assert_config_shape(config: dict[str, Any]) -> None:
    assert set(config) == CONFIG_KEYS, sorted(config)
    uuid.UUID(config["id"])
    assert MS_Z.match(config["createdAt"]) and MS_Z.match(config["updatedAt"]), config
    assert config["updatedAt"] >= config["createdAt"]


# ---------------------------------------------------------------------------------------------- providers


async def test_providers_list_matches_the_seed_for_every_role(client: Client, world: World) -> None:
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    viewer.tenant_id = None  # auth mode "user": no x-tenant-id needed
    assert world.root.tenant_id is None
    lists = [await ok(client, actor, "GET", PROVIDERS) for actor in (world.admin_a, viewer, world.root)]
    assert lists[0] == lists[1] == lists[2]
    providers = lists[0]
    for p in providers:
        uuid.UUID(p["id"])
    assert [{k: v for k, v in p.items() if k != "id"} for p in providers] == [
        {
            "code": "MOCK",
            "name": "Mock Provider",
            "protocolType": "MOCK",
            "isActive": True,
            "channelDefinitions": [
                {"channel": c, "credentialSchema": [], "settingsSchema": []} for c in ALL_CHANNELS
            ],
        },
        {
            "code": "YOM",
            "name": "YOM Provider",
            "protocolType": "REST",
            "isActive": True,
            "channelDefinitions": [
                {"channel": c, "credentialSchema": API_KEY_SCHEMA, "settingsSchema": []}
                for c in ("CALLCENTER", "SALESMAN")
            ],
        },
    ]


async def test_channel_definitions_match_the_seed(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    expected = {"YOM": (["CALLCENTER", "SALESMAN"], API_KEY_SCHEMA), "MOCK": (ALL_CHANNELS, [])}
    seen_ids: set[str] = set()
    for code, (channels, schema) in expected.items():
        url = f"{PROVIDERS}/{ids[code]}/channel-definitions"
        definitions = await ok(client, world.admin_a, "GET", url)
        assert await ok(client, viewer, "GET", url) == definitions
        assert [d["channel"] for d in definitions] == channels
        for d in definitions:
            assert set(d) == DEFINITION_KEYS, sorted(d)
            assert d["dispatchProviderId"] == ids[code]
            assert d["credentialSchema"] == schema and d["settingsSchema"] == []
            assert MS_Z.match(d["createdAt"]) and MS_Z.match(d["updatedAt"]), d
            seen_ids.add(d["id"])
    assert len(seen_ids) == 8  # every definition has its own id
    assert_error(
        await client.get(f"{PROVIDERS}/{uuid.uuid4()}/channel-definitions", headers=viewer.headers()), 404
    )
    assert_error(
        await client.get(f"{PROVIDERS}/not-a-uuid/channel-definitions", headers=viewer.headers()), 400
    )


async def test_reads_need_credentials(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    for url in (PROVIDERS, f"{PROVIDERS}/{ids['YOM']}/channel-definitions", CONFIGS):
        assert_error(await client.get(url), 401)
        assert_error(await client.get(url, headers={"authorization": "Bearer not-a-token"}), 401)
    # tenant-scoped with a JWT: x-tenant-id is required; a non-member tenant is refused
    assert_error(await client.get(CONFIGS, headers={"authorization": f"Bearer {world.admin_a.token}"}), 400)
    assert_error(await client.get(CONFIGS, headers=world.admin_a.headers(world.tenant_b)), 403)
    # the providers routes need a person, not an API key
    body = {"name": "reader", "permissions": ["VIEW_ACTIVITIES"]}
    key = (await ok(client, world.admin_a, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]
    assert_error(await client.get(PROVIDERS, headers={"x-api-key": key}), 403)
    assert (await client.get(CONFIGS, headers={"x-api-key": key})).json() == []


# ---------------------------------------------------------------------------------------------- create


async def test_create_camel_case_yom(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    response = await client.post(
        CONFIGS,
        headers=world.admin_a.headers(),
        json={
            "dispatchProviderId": ids["YOM"],
            "channel": "SALESMAN",
            "baseUrl": LOCAL + "/",
            "credentials": {"apiKey": SECRET},
            "settings": {"timeoutS": 10, "nested": {"a": [1, 2]}},
        },
    )
    assert response.status_code == 201, response.text
    assert SECRET not in response.text
    created = shown_once(response.json())
    assert_config_shape(created)
    assert {k: v for k, v in created.items() if k not in ("id", "createdAt", "updatedAt")} == {
        "dispatchProviderId": ids["YOM"],
        "channel": "SALESMAN",
        "baseUrl": LOCAL,  # trailing slash stripped
        "settings": {"timeoutS": 10, "nested": {"a": [1, 2]}},
        "isActive": True,
        "hasCredentials": True,
        "dispatchProvider": {"code": "YOM", "name": "YOM Provider"},
    }
    assert await configs(client, world.admin_a) == [created]


async def test_create_snake_case_mock_and_yom(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    created = await mock(client, world.admin_a, ids)
    assert_config_shape(created)
    assert {k: v for k, v in created.items() if k not in ("id", "createdAt", "updatedAt")} == {
        "dispatchProviderId": ids["MOCK"],
        "channel": "WHATSAPP",
        "baseUrl": None,
        "settings": {},
        "isActive": True,
        "hasCredentials": False,
        "dispatchProvider": {"code": "MOCK", "name": "Mock Provider"},
    }
    body = {
        "dispatch_provider_id": ids["YOM"],
        "channel": "CALLCENTER",
        "base_url": "HTTP://127.0.0.1:9/yom-cc//",
        "credentials": {"apiKey": SECRET},
        "settings": {"region": "cl"},
    }
    snake = shown_once(await ok(client, world.admin_a, "POST", CONFIGS, 201, json=body))
    assert snake["baseUrl"] == "http://127.0.0.1:9/yom-cc" and snake["hasCredentials"] is True
    assert snake["settings"] == {"region": "cl"} and snake["dispatchProviderId"] == ids["YOM"]
    # both spellings with the same value are one value
    same = {"dispatch_provider_id": ids["MOCK"], "dispatchProviderId": ids["MOCK"], "channel": "SMS"}
    same |= {"base_url": "https://8.8.8.8/x", "baseUrl": "https://8.8.8.8/x"}
    both = shown_once(await ok(client, world.admin_a, "POST", CONFIGS, 201, json=same))
    assert both["baseUrl"] == "https://8.8.8.8/x" and both["channel"] == "SMS"
    listed = await configs(client, world.admin_a)
    assert listed == [created, snake, both]  # oldest first
    for config in listed:
        assert "credentials" not in config
        assert_config_shape(config)


# ---------------------------------------------------------------------------------------------- secrecy


async def test_credentials_are_encrypted_and_never_returned(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    ids = await provider_ids(client, world.admin_a)
    texts: list[str] = []
    created = await client.post(
        CONFIGS,
        headers=world.admin_a.headers(),
        json={
            "dispatchProviderId": ids["YOM"],
            "channel": "SALESMAN",
            "baseUrl": LOCAL,
            "credentials": {"apiKey": SECRET},
        },
    )
    assert created.status_code == 201, created.text
    texts.append(created.text)
    config_id = created.json()["id"]
    texts.append((await client.get(CONFIGS, headers=world.admin_a.headers())).text)

    row = await stored(app_pool, world.tenant_a, config_id)
    first = bytes(row["credentials"])
    assert row["credentials_key_id"] == "t1"
    assert SECRET.encode() not in first and b"apiKey" not in first
    assert decrypt(world.tenant_a, config_id, row) == {"apiKey": SECRET}

    patched = await client.patch(
        f"{CONFIGS}/{config_id}", headers=world.admin_a.headers(), json={"settings": {"k": "v"}}
    )
    assert patched.status_code == 200, patched.text
    texts.append(patched.text)
    row = await stored(app_pool, world.tenant_a, config_id)
    assert bytes(row["credentials"]) == first  # not sent: kept as stored

    replaced = await client.patch(
        f"{CONFIGS}/{config_id}",
        headers=world.admin_a.headers(),
        json={"credentials": {"apiKey": OTHER_SECRET}},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["hasCredentials"] is True and replaced.json()["settings"] == {"k": "v"}
    texts.append(replaced.text)
    texts.append((await client.get(CONFIGS, headers=world.admin_a.headers())).text)
    row = await stored(app_pool, world.tenant_a, config_id)
    second = bytes(row["credentials"])
    assert second != first and row["credentials_key_id"] == "t1"
    assert OTHER_SECRET.encode() not in second
    assert decrypt(world.tenant_a, config_id, row) == {"apiKey": OTHER_SECRET}
    for text in texts:
        assert SECRET not in text and OTHER_SECRET not in text
        assert '"credentials"' not in text


async def test_a_ciphertext_copied_to_another_row_is_refused_cleanly(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    """The AAD binds a ciphertext to its row: a PATCH that must re-validate the kept credentials of a row
    holding another row's ciphertext fails closed, with a clear error (not an unmapped 500) that leaks
    nothing; sending new credentials repairs the row."""
    ids = await provider_ids(client, world.admin_a)
    source = await yom(client, world.admin_a, ids, "SALESMAN")
    target = await yom(client, world.admin_a, ids, "CALLCENTER", credentials={"apiKey": OTHER_SECRET})
    async with app_pool.acquire() as c, c.transaction():
        await c.execute(f"set local app.tenant_id = '{world.tenant_a}'")
        status = await c.execute(
            "update app.dispatch_configs set credentials = (select credentials from app.dispatch_configs"
            " where tenant_id = $3 and id = $1) where tenant_id = $3 and id = $2",
            uuid.UUID(source["id"]),
            uuid.UUID(target["id"]),
            world.tenant_a,
        )
    assert status == "UPDATE 1"
    before = await stored(app_pool, world.tenant_a, target["id"])

    url = f"{CONFIGS}/{target['id']}"
    response = await client.patch(url, headers=world.admin_a.headers(), json={"settings": {"x": 1}})
    assert SECRET not in response.text and OTHER_SECRET not in response.text
    assert bytes(before["credentials"]).hex() not in response.text
    assert response.status_code != 500, (
        f"CredentialsError is not mapped: {response.status_code} {response.text}"
    )
    assert 400 <= response.status_code < 600
    body = assert_error(response, response.status_code)
    assert "credential" in body["message"].lower(), body
    after = await stored(app_pool, world.tenant_a, target["id"])
    assert after["settings"] == before["settings"] and after["credentials"] == before["credentials"]

    repaired = await ok(client, world.admin_a, "PATCH", url, json={"credentials": {"apiKey": "sk-new"}})
    assert repaired["hasCredentials"] is True
    row = await stored(app_pool, world.tenant_a, target["id"])
    assert decrypt(world.tenant_a, target["id"], row) == {"apiKey": "sk-new"}


# ---------------------------------------------------------------------------------------------- validation


async def test_invalid_bodies_are_refused_and_nothing_is_written(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    y, m = ids["YOM"], ids["MOCK"]
    good = {
        "dispatchProviderId": y,
        "channel": "SALESMAN",
        "baseUrl": LOCAL,
        "credentials": {"apiKey": SECRET},
    }

    def without(key: str) -> dict[str, Any]:
        return {k: v for k, v in good.items() if k != key}

    cases: list[tuple[str, Any, str | None]] = [
        ("no provider", without("dispatchProviderId"), "dispatch_provider_id"),
        ("no channel", without("channel"), None),
        ("unknown provider", {**good, "dispatchProviderId": str(uuid.uuid4())}, "dispatch_provider_id"),
        ("malformed provider", {**good, "dispatchProviderId": "yom"}, None),
        ("channel the provider lacks", {**good, "channel": "WHATSAPP"}, "channel"),
        ("channel outside the enum", {**good, "channel": "ACTIVATOR"}, None),
        ("REST provider without baseUrl", without("baseUrl"), "base_url"),
        ("empty baseUrl", {**good, "baseUrl": ""}, None),
        ("baseUrl too long", {**good, "baseUrl": "https://8.8.8.8/" + "a" * 2040}, None),
        ("no credentials", without("credentials"), "credentials"),
        ("empty credentials", {**good, "credentials": {}}, "credentials"),
        ("blank required key", {**good, "credentials": {"apiKey": ""}}, "credentials"),
        ("only a wrong key", {**good, "credentials": {"apikey": SECRET}}, "credentials"),
        ("credential not a string", {**good, "credentials": {"apiKey": 12345}}, None),
        ("credentials not an object", {**good, "credentials": "sk"}, None),
        ("settings not an object", {**good, "settings": ["a"]}, None),
        ("unknown field tenant_id", {**good, "tenant_id": str(world.tenant_b)}, None),
        ("unknown field id", {**good, "id": str(uuid.uuid4())}, None),
        ("unknown field hasCredentials", {**good, "hasCredentials": False}, None),
        ("unknown field createdAt", {**good, "createdAt": "2030-01-01T00:00:00.000Z"}, None),
        ("provider spellings differ", {**good, "dispatch_provider_id": m}, "dispatch_provider_id"),
        ("baseUrl spellings differ", {**good, "base_url": "https://8.8.8.8"}, "base_url"),
        ("not an object", [good], None),
    ]
    for name, body, field in cases:
        response = await client.post(CONFIGS, headers=world.admin_a.headers(), json=body)
        assert response.status_code == 400, (name, response.status_code, response.text)
        if field is not None:
            field_error(response, field)
        else:
            assert_error(response, 400)
        assert SECRET not in response.text and "TOP-SECRET-VALUE" not in response.text, (name, response.text)
    assert await configs(client, world.admin_a) == []


UNSAFE_URLS = [
    "https://10.0.0.1",
    "https://169.254.169.254/latest/meta-data",
    "https://192.168.1.1/hook",
    "https://172.16.0.1",
    "https://100.64.0.1",  # shared address space (CGNAT)
    "https://0.0.0.0",
    "https://167772161",  # 10.0.0.1 in decimal
    "https://0x0a.0.0.1",  # hex
    "https://012.0.0.1",  # octal
    "https://10.1",  # short form
    "https://[fe80::1]",
    "https://[fc00::1]",
    "https://[::ffff:169.254.169.254]",  # IPv4-mapped
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "https://[2002:a00:1::]",  # 6to4 of 10.0.0.1
    "https://[::]",
    "https://224.0.0.1",
    "https://alice:s3cr3tpw@example.com",
    "https://@8.8.8.8",
    "https://8.8.8.8/x?token=1",
    "https://8.8.8.8/#frag",
    "ftp://8.8.8.8",
    "file:///etc/passwd",
    "https:///no-host",
    "https://8.8.8.8:99999",
]


async def test_credential_keys_beyond_the_schema_are_kept_encrypted(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    """The docs' example sends `apiKey` to any provider: extra keys are accepted, encrypted with the rest,
    and never returned (CONTRACT.md §8, revised)."""
    ids = await provider_ids(client, world.admin_a)
    extra = {"apiKey": SECRET, "token": "TOP-SECRET-VALUE"}
    config = await yom(client, world.admin_a, ids, credentials=extra)
    row = await stored(app_pool, world.tenant_a, config["id"])
    assert decrypt(world.tenant_a, config["id"], row) == extra
    docs_example = await mock(client, world.admin_a, ids, "SMS", credentials={"apiKey": "k"})
    assert docs_example["hasCredentials"] is True
    row = await stored(app_pool, world.tenant_a, docs_example["id"])
    assert decrypt(world.tenant_a, docs_example["id"], row) == {"apiKey": "k"}
    listed = await client.get(CONFIGS, headers=world.admin_a.headers())
    assert "TOP-SECRET-VALUE" not in listed.text and SECRET not in listed.text


async def test_unsafe_base_urls_are_refused(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    for url in UNSAFE_URLS:
        for body in (
            {
                "dispatchProviderId": ids["YOM"],
                "channel": "SALESMAN",
                "baseUrl": url,
                "credentials": {"apiKey": "k"},
            },
            {"dispatch_provider_id": ids["MOCK"], "channel": "EMAIL", "base_url": url},  # MOCK is checked too
        ):
            response = await client.post(CONFIGS, headers=world.admin_a.headers(), json=body)
            assert response.status_code == 400, (url, response.text)
            field_error(response, "base_url")
            assert "s3cr3tpw" not in response.text
    assert await configs(client, world.admin_a) == []
    # the public and the (test-)allowed addresses pass
    ok_mock = await mock(client, world.admin_a, ids, "EMAIL", base_url="https://8.8.8.8/hooks/")
    assert ok_mock["baseUrl"] == "https://8.8.8.8/hooks"


async def test_ip_literals_with_a_trailing_dot_are_refused_at_save(client: Client, world: World) -> None:
    """CONTRACT §8: "a literal IP in any notation is checked" at save. ``10.0.0.1.`` (the FQDN form of an
    IPv4 literal, which URL parsers treat as the address) is neither parsed as a literal nor resolvable,
    so it is accepted today."""
    ids = await provider_ids(client, world.admin_a)
    for url in ("https://10.0.0.1.", "https://169.254.169.254./latest"):
        body = {"dispatch_provider_id": ids["MOCK"], "channel": "PUSH", "base_url": url}
        response = await client.post(CONFIGS, headers=world.admin_a.headers(), json=body)
        assert response.status_code == 400, (url, response.text)
        field_error(response, "base_url")
    assert await configs(client, world.admin_a) == []


# ---------------------------------------------------------------------------------------------- permissions


async def test_viewer_reads_but_cannot_write(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    config = await yom(client, world.admin_a, ids)
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    for actor in (viewer, fde):
        assert await configs(client, actor) == [config]
        body = {"dispatch_provider_id": ids["MOCK"], "channel": "SMS"}
        assert_error(await client.post(CONFIGS, headers=actor.headers(), json=body), 403)
        url = f"{CONFIGS}/{config['id']}"
        assert_error(await client.patch(url, headers=actor.headers(), json={"isActive": False}), 403)
        assert_error(await client.delete(url, headers=actor.headers()), 403)
    assert await configs(client, world.admin_a) == [config]


async def test_api_keys_act_in_their_own_tenant_with_their_permissions(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)

    async def key(permissions: list[str]) -> dict[str, str]:
        body = {"name": "-".join(permissions).lower(), "permissions": permissions}
        created = await ok(client, world.admin_a, "POST", "/api/api-keys", 201, json=body)
        return {"x-api-key": created["plaintextKey"]}

    manage, view = await key(["MANAGE_ACTIVITY_CONFIG"]), await key(["VIEW_ACTIVITIES"])
    body = {"dispatch_provider_id": ids["YOM"], "channel": "SALESMAN", "base_url": LOCAL}
    body["credentials"] = {"apiKey": SECRET}
    response = await client.post(CONFIGS, headers=manage, json=body)
    assert response.status_code == 201, response.text
    created = shown_once(response.json())
    assert SECRET not in response.text and created["hasCredentials"] is True
    assert await configs(client, world.admin_a) == [created]
    assert await configs(client, world.admin_b) == []
    patched = await client.patch(f"{CONFIGS}/{created['id']}", headers=manage, json={"settings": {"a": 1}})
    assert patched.status_code == 200 and patched.json()["settings"] == {"a": 1}, patched.text
    assert_error(await client.get(CONFIGS, headers=manage), 403)  # no VIEW_ACTIVITIES
    assert (await client.get(CONFIGS, headers=view)).json() == [patched.json()]
    mock_body = {"dispatch_provider_id": ids["MOCK"], "channel": "SMS"}
    assert_error(await client.post(CONFIGS, headers=view, json=mock_body), 403)
    assert_error(await client.delete(f"{CONFIGS}/{created['id']}", headers=view), 403)
    assert_error(
        await client.post(CONFIGS, headers={**manage, "x-tenant-id": str(world.tenant_b)}, json=mock_body),
        403,
    )
    assert await configs(client, world.admin_b) == []
    assert len(await configs(client, world.admin_a)) == 1


async def test_another_tenants_config_is_not_found(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    mine = await yom(client, world.admin_a, ids)
    theirs = await yom(client, world.admin_b, ids, settings={"b": True})  # same channel, other tenant: fine
    assert await configs(client, world.admin_a) == [mine]
    assert await configs(client, world.admin_b) == [theirs]
    url = f"{CONFIGS}/{mine['id']}"
    for actor, tenant in ((world.admin_b, None), (world.root, world.tenant_b)):
        headers = actor.headers(tenant)
        for body in (
            {"isActive": False},
            {"baseUrl": "https://8.8.8.8"},
            {"credentials": {"apiKey": "x"}},
            {},
        ):
            assert_error(await client.patch(url, headers=headers, json=body), 404)
        assert_error(await client.delete(url, headers=headers), 404)
    assert await configs(client, world.admin_a) == [mine]
    assert await configs(client, world.admin_b) == [theirs]
    # unknown and malformed ids
    for method in ("PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        response = await client.request(
            method, f"{CONFIGS}/{uuid.uuid4()}", headers=world.admin_a.headers(), **kwargs
        )
        assert_error(response, 404)
        response = await client.request(
            method, f"{CONFIGS}/not-a-uuid", headers=world.admin_a.headers(), **kwargs
        )
        assert_error(response, 400)


# ------------------------------------------------------------------------------ one active per channel


async def test_one_active_config_per_channel(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    first = await yom(client, world.admin_a, ids, "SALESMAN")
    conflict = "an active dispatch config already exists for this channel"

    # a second active config for the channel, by any provider and either spelling
    for body in (
        {"dispatch_provider_id": ids["MOCK"], "channel": "SALESMAN"},
        {
            "dispatchProviderId": ids["YOM"],
            "channel": "SALESMAN",
            "baseUrl": LOCAL,
            "credentials": {"apiKey": "k"},
        },
    ):
        response = await client.post(CONFIGS, headers=world.admin_a.headers(), json=body)
        assert assert_error(response, 409)["message"] == conflict
    # moving another config onto the taken channel
    other = await mock(client, world.admin_a, ids, "CALLCENTER")
    response = await client.patch(
        f"{CONFIGS}/{other['id']}", headers=world.admin_a.headers(), json={"channel": "SALESMAN"}
    )
    assert assert_error(response, 409)["message"] == conflict
    assert await configs(client, world.admin_a) == [first, other]

    # soft delete frees the channel; deleting again is still 204
    response = await client.delete(f"{CONFIGS}/{first['id']}", headers=world.admin_a.headers())
    assert response.status_code == 204 and not response.content, response.text
    response = await client.delete(f"{CONFIGS}/{first['id']}", headers=world.admin_a.headers())
    assert response.status_code == 204, response.text
    [deleted, _] = await configs(client, world.admin_a)
    assert deleted["id"] == first["id"] and deleted["isActive"] is False
    assert deleted["hasCredentials"] is True and deleted["baseUrl"] == LOCAL
    second = await mock(client, world.admin_a, ids, "SALESMAN")
    assert second["isActive"] is True

    # reactivating the deleted one while the channel is taken, in either spelling
    for body in ({"isActive": True}, {"is_active": True}, {"is_active": True, "isActive": True}):
        response = await client.patch(f"{CONFIGS}/{first['id']}", headers=world.admin_a.headers(), json=body)
        assert assert_error(response, 409)["message"] == conflict
    response = await client.patch(
        f"{CONFIGS}/{first['id']}",
        headers=world.admin_a.headers(),
        json={"is_active": True, "isActive": False},
    )
    field_error(response, "is_active")
    # an inactive config may be edited (and moved) without conflict
    body = {"baseUrl": "http://127.0.0.1:9/v2/", "credentials": {"apiKey": SECRET}}
    edited = await ok(client, world.admin_a, "PATCH", f"{CONFIGS}/{first['id']}", json=body)
    assert edited["isActive"] is False and edited["baseUrl"] == "http://127.0.0.1:9/v2"

    # deactivating through PATCH frees the channel too, and then the old one comes back
    off = await ok(client, world.admin_a, "PATCH", f"{CONFIGS}/{second['id']}", json={"isActive": False})
    assert off["isActive"] is False
    back = await ok(client, world.admin_a, "PATCH", f"{CONFIGS}/{first['id']}", json={"is_active": True})
    assert back["isActive"] is True and back["hasCredentials"] is True
    active = [(c["channel"], c["id"]) for c in await configs(client, world.admin_a) if c["isActive"]]
    assert sorted(active) == sorted([("SALESMAN", first["id"]), ("CALLCENTER", other["id"])])


# ---------------------------------------------------------------------------------------------- patch


async def test_patch_fields_and_provider_switches(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    ids = await provider_ids(client, world.admin_a)
    config = await yom(client, world.admin_a, ids, settings={"a": 1})
    url = f"{CONFIGS}/{config['id']}"

    again = {"apiKey": SECRET}  # a new address needs the credentials again (CONTRACT.md §8)
    body = {"baseUrl": "http://127.0.0.1:9/other/", "credentials": again}
    changed = await ok(client, world.admin_a, "PATCH", url, json=body)
    assert changed["baseUrl"] == "http://127.0.0.1:9/other" and changed["settings"] == {"a": 1}
    same = await ok(client, world.admin_a, "PATCH", url, json={"baseUrl": "http://127.0.0.1:9/other"})
    assert same["baseUrl"] == changed["baseUrl"]  # the same address as stored: nothing moved
    changed = await ok(
        client, world.admin_a, "PATCH", url, json={"base_url": "https://8.8.8.8", "credentials": again}
    )
    assert changed["baseUrl"] == "https://8.8.8.8"
    changed = await ok(client, world.admin_a, "PATCH", url, json={"settings": {"b": [1, 2]}})
    assert changed["settings"] == {"b": [1, 2]}  # settings sent replace
    assert changed["createdAt"] == config["createdAt"] and changed["updatedAt"] >= config["updatedAt"]
    assert changed["hasCredentials"] is True and changed["isActive"] is True

    # refused changes leave the row as it was
    refused: list[tuple[dict[str, Any], str | None]] = [
        ({"baseUrl": "https://169.254.169.254"}, "base_url"),
        ({"channel": "WHATSAPP"}, "channel"),  # YOM does not define it
        ({"credentials": {"apiKey": ""}}, "credentials"),
        ({"credentials": {"token": "x"}}, "credentials"),
        ({"dispatchProviderId": str(uuid.uuid4())}, "dispatch_provider_id"),
        ({"baseUrl": "https://8.8.4.4"}, "credentials"),  # the secret would go to a new host
        ({"channel": "CALLCENTER"}, "credentials"),
        ({"dispatchProviderId": ids["MOCK"]}, "credentials"),
        ({"baseUrl": "https://8.8.8.8/a", "base_url": "https://8.8.8.8/b"}, "base_url"),
        ({"tenant_id": str(world.tenant_b)}, None),
        ({"hasCredentials": False}, None),
    ]
    before = await stored(app_pool, world.tenant_a, config["id"])
    for body, field in refused:
        response = await client.patch(url, headers=world.admin_a.headers(), json=body)
        assert response.status_code == 400, (body, response.text)
        if field is not None:
            field_error(response, field)
        assert SECRET not in response.text
    assert await stored(app_pool, world.tenant_a, config["id"]) == before
    assert await configs(client, world.admin_a) == [changed]

    # YOM -> MOCK, dropping the credentials
    switched = await ok(
        client, world.admin_a, "PATCH", url, json={"dispatchProviderId": ids["MOCK"], "credentials": {}}
    )
    assert switched["dispatchProvider"] == {"code": "MOCK", "name": "Mock Provider"}
    assert switched["dispatchProviderId"] == ids["MOCK"] and switched["hasCredentials"] is False
    assert switched["channel"] == "SALESMAN" and switched["baseUrl"] == "https://8.8.8.8"
    row = await stored(app_pool, world.tenant_a, config["id"])
    assert row["credentials"] is None and row["credentials_key_id"] is None

    # MOCK -> YOM needs the required apiKey again
    response = await client.patch(
        url, headers=world.admin_a.headers(), json={"dispatch_provider_id": ids["YOM"]}
    )
    assert "apiKey" in field_error(response, "credentials")["message"]
    assert (await configs(client, world.admin_a))[0]["dispatchProviderId"] == ids["MOCK"]
    body = {"dispatch_provider_id": ids["YOM"], "channel": "CALLCENTER", "credentials": {"apiKey": SECRET}}
    back = await ok(client, world.admin_a, "PATCH", url, json=body)
    assert back["dispatchProvider"]["code"] == "YOM" and back["channel"] == "CALLCENTER"
    assert back["hasCredentials"] is True
    row = await stored(app_pool, world.tenant_a, config["id"])
    assert decrypt(world.tenant_a, config["id"], row) == {"apiKey": SECRET}


async def test_mock_to_yom_needs_a_base_url(client: Client, world: World) -> None:
    ids = await provider_ids(client, world.admin_a)
    config = await mock(client, world.admin_a, ids, "SALESMAN")
    url = f"{CONFIGS}/{config['id']}"
    body = {"dispatchProviderId": ids["YOM"], "credentials": {"apiKey": "k"}}
    field_error(await client.patch(url, headers=world.admin_a.headers(), json=body), "base_url")
    assert await configs(client, world.admin_a) == [config]
    done = await ok(client, world.admin_a, "PATCH", url, json={**body, "baseUrl": LOCAL})
    assert done["baseUrl"] == LOCAL and done["hasCredentials"] is True
