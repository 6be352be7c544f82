"""/api/activity-config/*: the global attribute-key catalogue, attribute policies (both body revisions),
target-resolution configs with their criteria, task result types, the defaults a new tenant is seeded
with, tenant isolation and permissions (reads VIEW_ACTIVITIES, writes MANAGE_ACTIVITY_CONFIG)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import Actor, World, add_user, assert_error, setup_tenant
from httpx import Response

from activities.helpers import Client, first_config, ok

BASE = "/api/activity-config"
KEYS = f"{BASE}/attribute-keys"
POLICIES = f"{BASE}/attribute-policies"
TARGETS = f"{BASE}/target-resolution"
TYPES = f"{BASE}/task-result-types"
SEEDED_TYPES = sorted(
    [("SALE_COMPLETED", False), ("NOT_INTERESTED", False), ("RESCHEDULE", True), ("NO_CONTACT", False)]
)
POLICY_KEYS = {
    "id", "attributeKeyId", "strategy", "resolutionStrategy", "resolverType", "hookUrl", "attributeKey",
    "createdAt", "updatedAt",
}  # fmt: skip
CONFIG_KEYS = {
    "id", "resolutionStrategy", "fallbackToCommerceRep", "fallbackToOwner", "priority", "isActive",
    "criteria", "createdAt", "updatedAt",
}  # fmt: skip
TYPE_KEYS = {"id", "code", "label", "requiresFutureScheduledAt", "isActive", "createdAt", "updatedAt"}


# ---------------------------------------------------------------------------------------------------
# Local helpers
# ---------------------------------------------------------------------------------------------------
async def call(client: Client, actor: Actor, method: str, url: str, body: Any = None) -> Response:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return await client.request(method, url, headers=actor.headers(), **kwargs)


async def key_ids(client: Client, actor: Actor) -> dict[str, str]:
    """Attribute key -> id."""
    return {k["key"]: k["id"] for k in await ok(client, actor, "GET", KEYS)}


async def types_by_code(client: Client, actor: Actor) -> dict[str, dict[str, Any]]:
    return {t["code"]: t for t in await ok(client, actor, "GET", TYPES)}


def by_code(types: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listing's order is the database's collation; compare sorted by code."""
    return sorted(types, key=lambda t: t["code"])


def camel_policy(
    key_id: str, strategy: str = "UPFRONT", resolver: str = "INTERNAL_SERVICE"
) -> dict[str, Any]:
    return {"attributeKeyId": key_id, "strategy": strategy, "resolverType": resolver}


def snake_policy(
    key_id: str, strategy: str = "UPFRONT", resolver: str = "INTERNAL_SERVICE"
) -> dict[str, Any]:
    return {"attribute_key_id": key_id, "resolution_strategy": strategy, "resolver_type": resolver}


def without_ids(config: dict[str, Any]) -> dict[str, Any]:
    """A config as data: no ids, no timestamps."""
    out = {k: v for k, v in config.items() if k not in ("id", "createdAt", "updatedAt")}
    out["criteria"] = [{k: v for k, v in c.items() if k != "id"} for c in config["criteria"]]
    return out


DEFAULT_AS_CONFIG = {
    "resolutionStrategy": "ON_CREATION",
    "fallbackToCommerceRep": True,
    "fallbackToOwner": True,
    "priority": 0,
    "isActive": True,
    "criteria": [{"criteriaType": "ROLE_MATCH", "criteriaConfig": {"role": "COMMERCE_REP"}, "priority": 0}],
}


# ---------------------------------------------------------------------------------------------------
# Attribute keys
# ---------------------------------------------------------------------------------------------------
async def test_attribute_keys_are_a_global_catalogue(client: Client, world: World) -> None:
    keys_a = await ok(client, world.admin_a, "GET", KEYS)
    assert [k["key"] for k in keys_a] == ["commerce_info", "promotions"]
    for item in keys_a:
        assert set(item) == {"id", "key", "label", "description"}
        uuid.UUID(item["id"])
        assert item["label"] and item["description"]
    assert await ok(client, world.admin_b, "GET", KEYS) == keys_a
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    assert await ok(client, viewer, "GET", KEYS) == keys_a


# ---------------------------------------------------------------------------------------------------
# Attribute policies
# ---------------------------------------------------------------------------------------------------
async def test_policy_upsert_camel_then_snake_updates_the_same_row(client: Client, world: World) -> None:
    actor = world.admin_a
    assert await ok(client, actor, "GET", POLICIES) == []
    ids = await key_ids(client, actor)
    created = await ok(
        client, actor, "POST", POLICIES, 200, json=camel_policy(ids["promotions"], "ON_DISPATCH")
    )
    assert set(created) == POLICY_KEYS
    assert created["attributeKeyId"] == ids["promotions"]
    assert created["strategy"] == created["resolutionStrategy"] == "ON_DISPATCH"
    assert created["resolverType"] == "INTERNAL_SERVICE" and created["hookUrl"] is None
    assert created["attributeKey"] == {"key": "promotions", "label": "Promotions"}
    assert await ok(client, actor, "GET", POLICIES) == [created]
    body = snake_policy(ids["promotions"], "CALLER_PROVIDED", "CALLER_PROVIDED")
    updated = await ok(client, actor, "POST", POLICIES, 200, json=body)
    assert updated["id"] == created["id"] and updated["createdAt"] == created["createdAt"]
    assert updated["strategy"] == updated["resolutionStrategy"] == "CALLER_PROVIDED"
    assert updated["resolverType"] == "CALLER_PROVIDED"
    assert await ok(client, actor, "GET", POLICIES) == [updated]
    # Another key is another policy; the list is ordered by key.
    other = await ok(client, actor, "POST", POLICIES, 200, json=snake_policy(ids["commerce_info"]))
    assert [p["id"] for p in await ok(client, actor, "GET", POLICIES)] == [other["id"], created["id"]]


async def test_policy_both_spellings_with_equal_values_are_accepted(client: Client, world: World) -> None:
    actor = world.admin_a
    key_id = (await key_ids(client, actor))["commerce_info"]
    body = {**camel_policy(key_id), **snake_policy(key_id)}
    assert (await ok(client, actor, "POST", POLICIES, 200, json=body))["strategy"] == "UPFRONT"


HOOK = "https://hooks.example.com/reten/attributes"


def bad_policies(key_id: str, other_key_id: str) -> dict[str, dict[str, Any]]:
    camel, snake = camel_policy(key_id), snake_policy(key_id)
    return {
        "missing attribute key id": {k: v for k, v in camel.items() if k != "attributeKeyId"},
        "missing strategy": {k: v for k, v in snake.items() if k != "resolution_strategy"},
        "missing resolver type": {k: v for k, v in camel.items() if k != "resolverType"},
        "empty body": {},
        "key ids differ": {**camel, "attribute_key_id": other_key_id},
        "strategies differ": {**camel, "resolution_strategy": "ON_DISPATCH"},
        "resolvers differ": {**snake, "resolverType": "CLIENT_HOOK", "hook_url": HOOK},
        "hook urls differ": {
            **camel_policy(key_id, resolver="CLIENT_HOOK"),
            "hookUrl": HOOK,
            "hook_url": HOOK + "/other",
        },
        "client hook without url": camel_policy(key_id, resolver="CLIENT_HOOK"),
        "client hook over ftp": {
            **camel_policy(key_id, resolver="CLIENT_HOOK"),
            "hookUrl": "ftp://h.example/x",
        },
        "client hook at a private address": {
            **camel_policy(key_id, resolver="CLIENT_HOOK"),
            "hookUrl": "https://10.0.0.7/x",
        },
        "client hook at the metadata address": {
            **snake_policy(key_id, resolver="CLIENT_HOOK"),
            "hook_url": "https://[::ffff:169.254.169.254]/x",
        },
        "client hook with user info": {
            **snake_policy(key_id, resolver="CLIENT_HOOK"),
            "hook_url": "https://user:secret@hooks.example.com/x",
        },
        "client hook without host": {**camel_policy(key_id, resolver="CLIENT_HOOK"), "hookUrl": "https:///x"},
        "hook url on internal service": {**camel, "hookUrl": HOOK},
        "hook url on caller provided": {**snake_policy(key_id, resolver="CALLER_PROVIDED"), "hook_url": HOOK},
        "bad strategy": camel_policy(key_id, strategy="LATER"),
        "bad resolver": snake_policy(key_id, resolver="ORACLE"),
        "camel resolutionStrategy is not a key": {
            "attributeKeyId": key_id,
            "resolutionStrategy": "UPFRONT",
            "resolverType": "INTERNAL_SERVICE",
        },
        "unknown field": {**camel, "tenantId": str(uuid.uuid4())},
        "malformed key id": camel_policy("not-a-uuid"),
    }


CASES = list(bad_policies("k", "o"))


@pytest.mark.parametrize("case", CASES)
async def test_policy_bad_bodies_are_400(client: Client, world: World, case: str) -> None:
    actor = world.admin_a
    ids = await key_ids(client, actor)
    body = bad_policies(ids["commerce_info"], ids["promotions"])[case]
    assert_error(await call(client, actor, "POST", POLICIES, body), 400)
    assert await ok(client, actor, "GET", POLICIES) == []


async def test_policy_client_hook_with_https_url(client: Client, world: World) -> None:
    actor = world.admin_a
    key_id = (await key_ids(client, actor))["promotions"]
    body = {**snake_policy(key_id, "ON_DISPATCH", "CLIENT_HOOK"), "hook_url": HOOK}
    policy = await ok(client, actor, "POST", POLICIES, 200, json=body)
    assert policy["resolverType"] == "CLIENT_HOOK" and policy["hookUrl"] == HOOK
    camel = {**camel_policy(key_id, "UPFRONT", "CLIENT_HOOK"), "hookUrl": HOOK + "/v2"}
    again = await ok(client, actor, "POST", POLICIES, 200, json=camel)
    assert again["id"] == policy["id"] and again["hookUrl"] == HOOK + "/v2"
    # Back to INTERNAL_SERVICE: the URL goes away.
    plain = await ok(client, actor, "POST", POLICIES, 200, json=camel_policy(key_id))
    assert plain["id"] == policy["id"] and plain["hookUrl"] is None


async def test_policy_for_an_unknown_key_is_404(client: Client, world: World) -> None:
    actor = world.admin_a
    assert_error(await call(client, actor, "POST", POLICIES, camel_policy(str(uuid.uuid4()))), 404)
    assert await ok(client, actor, "GET", POLICIES) == []


async def test_policy_delete_then_404(client: Client, world: World) -> None:
    actor = world.admin_a
    key_id = (await key_ids(client, actor))["commerce_info"]
    policy = await ok(client, actor, "POST", POLICIES, 200, json=camel_policy(key_id))
    assert await ok(client, actor, "DELETE", f"{POLICIES}/{policy['id']}", 204) is None
    assert await ok(client, actor, "GET", POLICIES) == []
    assert_error(await call(client, actor, "DELETE", f"{POLICIES}/{policy['id']}"), 404)
    assert_error(await call(client, actor, "DELETE", f"{POLICIES}/not-a-uuid"), 400)
    # A new upsert after the delete is a new row.
    again = await ok(client, actor, "POST", POLICIES, 200, json=camel_policy(key_id))
    assert again["id"] != policy["id"]


async def test_policies_are_per_tenant(client: Client, world: World) -> None:
    ids = await key_ids(client, world.admin_a)
    policy_a = await ok(client, world.admin_a, "POST", POLICIES, 200, json=camel_policy(ids["promotions"]))
    assert await ok(client, world.admin_b, "GET", POLICIES) == []
    assert_error(await call(client, world.admin_b, "DELETE", f"{POLICIES}/{policy_a['id']}"), 404)
    assert await ok(client, world.admin_a, "GET", POLICIES) == [policy_a]
    # B's own policy for the same key is B's row; A's is untouched.
    body = snake_policy(ids["promotions"], "ON_DISPATCH")
    policy_b = await ok(client, world.admin_b, "POST", POLICIES, 200, json=body)
    assert policy_b["id"] != policy_a["id"]
    assert await ok(client, world.admin_a, "GET", POLICIES) == [policy_a]
    assert await ok(client, world.admin_b, "GET", POLICIES) == [policy_b]


# ---------------------------------------------------------------------------------------------------
# Target-resolution configs
# ---------------------------------------------------------------------------------------------------
async def test_a_new_tenants_first_config_takes_the_documented_default_priority(
    client: Client, world: World
) -> None:
    """Nothing is seeded (a seeded config held priority 0, so this first create answered 409)."""
    assert await ok(client, world.admin_a, "GET", TARGETS) == []
    body = {
        "resolution_strategy": "ON_CREATION",
        "criteria": [{"type": "ROLE_MATCH", "config": {"role": "COMMERCE_REP"}}],
    }
    created = await ok(client, world.admin_a, "POST", TARGETS, 201, json=body)
    assert set(created) == CONFIG_KEYS and created["priority"] == 0
    assert set(created["criteria"][0]) == {"id", "criteriaType", "criteriaConfig", "priority"}
    assert without_ids(created) == DEFAULT_AS_CONFIG  # the built-in default, made explicit
    assert await ok(client, world.admin_a, "GET", TARGETS) == [created]
    assert await ok(client, world.admin_b, "GET", TARGETS) == []


async def test_create_target_config(client: Client, world: World) -> None:
    actor = world.admin_a
    await first_config(client, actor)
    assert_error(await call(client, actor, "POST", TARGETS, {"resolution_strategy": "MANUAL"}), 409)
    taken = {"resolution_strategy": "ON_DISPATCH", "priority": 0, "criteria": []}
    assert_error(await call(client, actor, "POST", TARGETS, taken), 409)
    body = {
        "resolution_strategy": "ON_DISPATCH",
        "fallback_to_commerce_rep": False,
        "priority": 5,
        "criteria": [
            {"type": "LAST_CONTACTED_SAME_CHANNEL", "priority": 1},
            {"type": "ROLE_MATCH", "config": {"role": "OWNER"}, "priority": 0},
            {"type": "LAST_CONTACTED_ALL_CHANNELS", "config": {}, "priority": 2},
        ],
    }
    created = await ok(client, actor, "POST", TARGETS, 201, json=body)
    assert set(created) == CONFIG_KEYS
    assert without_ids(created) == {
        "resolutionStrategy": "ON_DISPATCH",
        "fallbackToCommerceRep": False,
        "fallbackToOwner": True,
        "priority": 5,
        "isActive": True,
        "criteria": [
            {"criteriaType": "ROLE_MATCH", "criteriaConfig": {"role": "OWNER"}, "priority": 0},
            {"criteriaType": "LAST_CONTACTED_SAME_CHANNEL", "criteriaConfig": {}, "priority": 1},
            {"criteriaType": "LAST_CONTACTED_ALL_CHANNELS", "criteriaConfig": {}, "priority": 2},
        ],
    }
    listed = await ok(client, actor, "GET", TARGETS)
    assert [c["priority"] for c in listed] == [0, 5] and listed[1] == created
    # An inactive config may share a priority with an active one.
    inactive = await ok(
        client,
        actor,
        "POST",
        TARGETS,
        201,
        json={"resolution_strategy": "MANUAL", "priority": 5, "is_active": False},
    )
    assert inactive["isActive"] is False and inactive["criteria"] == []
    assert [c["id"] for c in await ok(client, actor, "GET", TARGETS)][-1] == inactive["id"]


BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "role match without role": {"criteria": [{"type": "ROLE_MATCH"}]},
    "role match with empty config": {"criteria": [{"type": "ROLE_MATCH", "config": {}}]},
    "invalid role": {"criteria": [{"type": "ROLE_MATCH", "config": {"role": "MANAGER"}}]},
    "unknown criterion type": {"criteria": [{"type": "NEAREST_PERSON"}]},
    "unknown criterion field": {"criteria": [{"type": "ROLE_MATCH", "config": {"role": "OWNER"}, "x": 1}]},
    "unknown config field": {"criteria": [{"type": "ROLE_MATCH", "config": {"role": "OWNER", "x": 1}}]},
    "missing strategy": {"resolution_strategy": None},
    "bad strategy": {"resolution_strategy": "SOMETIMES"},
    "negative priority": {"priority": -1},
    "unknown field": {"tenant_id": str(uuid.uuid4())},
    "camelCase body": {"resolution_strategy": None, "resolutionStrategy": "MANUAL"},
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
async def test_create_target_config_bad_bodies_are_400(client: Client, world: World, case: str) -> None:
    actor = world.admin_a
    body = {"resolution_strategy": "MANUAL", "priority": 7, **BAD_CONFIGS[case]}
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(await call(client, actor, "POST", TARGETS, body), 400)
    assert await ok(client, actor, "GET", TARGETS) == []


async def test_patch_target_config(client: Client, world: World) -> None:
    actor = world.admin_a
    await first_config(client, actor)
    body = {
        "resolution_strategy": "ON_CREATION",
        "priority": 3,
        "criteria": [{"type": "ROLE_MATCH", "config": {"role": "FINANCE"}, "priority": 0}],
    }
    config = await ok(client, actor, "POST", TARGETS, 201, json=body)
    url = f"{TARGETS}/{config['id']}"
    patched = await ok(
        client, actor, "PATCH", url, json={"resolution_strategy": "MANUAL", "fallback_to_owner": False}
    )
    assert patched["id"] == config["id"]
    assert patched["resolutionStrategy"] == "MANUAL" and patched["fallbackToOwner"] is False
    assert patched["fallbackToCommerceRep"] is True and patched["priority"] == 3
    assert patched["criteria"] == config["criteria"]  # kept when not sent
    replaced = await ok(
        client,
        actor,
        "PATCH",
        url,
        json={"criteria": [{"type": "LAST_CONTACTED_ALL_CHANNELS", "priority": 4}], "priority": 9},
    )
    assert replaced["priority"] == 9 and replaced["resolutionStrategy"] == "MANUAL"
    assert [(c["criteriaType"], c["criteriaConfig"], c["priority"]) for c in replaced["criteria"]] == [
        ("LAST_CONTACTED_ALL_CHANNELS", {}, 4)
    ]
    cleared = await ok(client, actor, "PATCH", url, json={"criteria": []})
    assert cleared["criteria"] == [] and cleared["priority"] == 9
    assert without_ids(await ok(client, actor, "PATCH", url, json={})) == without_ids(cleared)
    # Validation and conflicts leave the config as it was.
    assert_error(await call(client, actor, "PATCH", url, {"priority": 0}), 409)
    assert_error(await call(client, actor, "PATCH", url, {"criteria": [{"type": "ROLE_MATCH"}]}), 400)
    assert_error(await call(client, actor, "PATCH", url, {"code": "x"}), 400)
    assert_error(await call(client, actor, "PATCH", f"{TARGETS}/{uuid.uuid4()}", {"priority": 1}), 404)
    current = next(c for c in await ok(client, actor, "GET", TARGETS) if c["id"] == config["id"])
    assert without_ids(current) == without_ids(cleared)


async def test_delete_target_config_deactivates_and_frees_its_priority(client: Client, world: World) -> None:
    actor = world.admin_a
    seeded = await first_config(client, actor)
    assert await ok(client, actor, "DELETE", f"{TARGETS}/{seeded['id']}", 204) is None
    listed = await ok(client, actor, "GET", TARGETS)
    assert len(listed) == 1 and listed[0]["id"] == seeded["id"] and listed[0]["isActive"] is False
    assert listed[0]["criteria"] == seeded["criteria"]
    fresh = await ok(
        client, actor, "POST", TARGETS, 201, json={"resolution_strategy": "MANUAL", "priority": 0}
    )
    assert fresh["priority"] == 0 and fresh["isActive"] is True
    assert [(c["id"], c["isActive"]) for c in await ok(client, actor, "GET", TARGETS)] == [
        (fresh["id"], True),
        (seeded["id"], False),
    ]
    # Reactivating the old one now collides with the new one's priority.
    assert_error(await call(client, actor, "PATCH", f"{TARGETS}/{seeded['id']}", {"is_active": True}), 409)
    assert_error(await call(client, actor, "DELETE", f"{TARGETS}/{uuid.uuid4()}"), 404)


async def test_target_configs_are_per_tenant(client: Client, world: World) -> None:
    config_a = await first_config(client, world.admin_a)
    url = f"{TARGETS}/{config_a['id']}"
    assert_error(await call(client, world.admin_b, "PATCH", url, {"priority": 4}), 404)
    assert_error(await call(client, world.admin_b, "DELETE", url), 404)
    assert await ok(client, world.admin_a, "GET", TARGETS) == [config_a]
    assert config_a["id"] not in [c["id"] for c in await ok(client, world.admin_b, "GET", TARGETS)]


# ---------------------------------------------------------------------------------------------------
# Task result types
# ---------------------------------------------------------------------------------------------------
async def test_seeded_result_types(client: Client, world: World) -> None:
    types = by_code(await ok(client, world.admin_a, "GET", TYPES))
    assert [(t["code"], t["requiresFutureScheduledAt"]) for t in types] == SEEDED_TYPES
    assert all(set(t) == TYPE_KEYS and t["isActive"] and t["label"] for t in types)
    types_b = by_code(await ok(client, world.admin_b, "GET", TYPES))
    assert [t["code"] for t in types_b] == [c for c, _ in SEEDED_TYPES]
    assert not {t["id"] for t in types} & {t["id"] for t in types_b}


async def test_create_result_type_and_duplicates(client: Client, world: World) -> None:
    actor = world.admin_a
    created = await ok(
        client,
        actor,
        "POST",
        TYPES,
        201,
        json={"code": "CALL_BACK", "label": "Call back", "requires_future_scheduled_at": True},
    )
    assert set(created) == TYPE_KEYS
    assert (created["code"], created["label"], created["requiresFutureScheduledAt"], created["isActive"]) == (
        "CALL_BACK", "Call back", True, True,
    )  # fmt: skip
    plain = await ok(client, actor, "POST", TYPES, 201, json={"code": "a.b-c_1", "label": "Lower"})
    assert plain["requiresFutureScheduledAt"] is False
    assert_error(await call(client, actor, "POST", TYPES, {"code": "CALL_BACK", "label": "Again"}), 409)
    assert_error(await call(client, actor, "POST", TYPES, {"code": "SALE_COMPLETED", "label": "Dup"}), 409)
    assert (await types_by_code(client, actor))["CALL_BACK"] == created
    # Codes are case-sensitive; the same code in another tenant is another type.
    await ok(client, actor, "POST", TYPES, 201, json={"code": "call_back", "label": "Lower case"})
    other = await ok(client, world.admin_b, "POST", TYPES, 201, json={"code": "CALL_BACK", "label": "B"})
    assert other["id"] != created["id"]


async def test_delete_then_recreate_reactivates_the_same_type(client: Client, world: World) -> None:
    actor = world.admin_a
    no_contact = (await types_by_code(client, actor))["NO_CONTACT"]
    assert await ok(client, actor, "DELETE", f"{TYPES}/{no_contact['id']}", 204) is None
    gone = (await types_by_code(client, actor))["NO_CONTACT"]
    assert gone["isActive"] is False and gone["id"] == no_contact["id"]
    body = {"code": "NO_CONTACT", "label": "Nobody home", "requires_future_scheduled_at": True}
    back = await ok(client, actor, "POST", TYPES, 201, json=body)
    assert back["id"] == no_contact["id"] and back["isActive"] is True
    assert back["label"] == "Nobody home" and back["requiresFutureScheduledAt"] is True
    assert (await types_by_code(client, actor))["NO_CONTACT"] == back
    assert_error(await call(client, actor, "DELETE", f"{TYPES}/{uuid.uuid4()}"), 404)


async def test_patch_result_type(client: Client, world: World) -> None:
    actor = world.admin_a
    reschedule = (await types_by_code(client, actor))["RESCHEDULE"]
    url = f"{TYPES}/{reschedule['id']}"
    patched = await ok(client, actor, "PATCH", url, json={"label": "Later"})
    assert patched["label"] == "Later" and patched["requiresFutureScheduledAt"] is True
    assert patched["code"] == "RESCHEDULE" and patched["id"] == reschedule["id"]
    patched = await ok(client, actor, "PATCH", url, json={"requires_future_scheduled_at": False})
    assert patched["label"] == "Later" and patched["requiresFutureScheduledAt"] is False
    off = await ok(client, actor, "PATCH", url, json={"is_active": False})
    assert off["isActive"] is False
    on = await ok(client, actor, "PATCH", url, json={"is_active": True})
    assert on["isActive"] is True
    for bad in (
        {"code": "OTHER"},
        {"label": ""},
        {"label": "   "},
        {"label": "x" * 256},
        {"id": str(uuid.uuid4())},
    ):
        assert_error(await call(client, actor, "PATCH", url, bad), 400)
    assert (await types_by_code(client, actor))["RESCHEDULE"] == on
    assert_error(await call(client, actor, "PATCH", f"{TYPES}/{uuid.uuid4()}", {"label": "x"}), 404)
    assert_error(await call(client, actor, "PATCH", f"{TYPES}/not-a-uuid", {"label": "x"}), 400)


BAD_CODES = {
    "spaces": "SALE DONE",
    "65 chars": "A" * 65,
    "empty": "",
    "leading underscore": "_SALE",
    "slash": "SALE/DONE",
    "accent": "VENTA_ÑU",
}


@pytest.mark.parametrize("case", list(BAD_CODES))
async def test_invalid_result_type_codes_are_400(client: Client, world: World, case: str) -> None:
    actor = world.admin_a
    assert_error(await call(client, actor, "POST", TYPES, {"code": BAD_CODES[case], "label": "Bad"}), 400)
    assert [t["code"] for t in by_code(await ok(client, actor, "GET", TYPES))] == [c for c, _ in SEEDED_TYPES]


async def test_result_type_of_64_chars_and_other_bad_bodies(client: Client, world: World) -> None:
    actor = world.admin_a
    longest = "A" * 64
    assert (await ok(client, actor, "POST", TYPES, 201, json={"code": longest, "label": "Max"}))[
        "code"
    ] == longest
    for bad in ({"code": "X"}, {"label": "No code"}, {"code": "X", "label": "L", "is_active": True}):
        assert_error(await call(client, actor, "POST", TYPES, bad), 400)


async def test_result_types_are_per_tenant(client: Client, world: World) -> None:
    type_a = (await types_by_code(client, world.admin_a))["SALE_COMPLETED"]
    url = f"{TYPES}/{type_a['id']}"
    assert_error(await call(client, world.admin_b, "PATCH", url, {"label": "Hijacked"}), 404)
    assert_error(await call(client, world.admin_b, "DELETE", url), 404)
    assert (await types_by_code(client, world.admin_a))["SALE_COMPLETED"] == type_a


# ---------------------------------------------------------------------------------------------------
# Seeds of a new tenant
# ---------------------------------------------------------------------------------------------------
async def test_tenant_setup_seeds_result_types_and_no_target_config(client: Client, world: World) -> None:
    tenant_c = await setup_tenant(client, world.root, "tenant-c", "admin@c.test")
    headers = world.root.headers(tenant_c)
    types = by_code((await client.get(TYPES, headers=headers)).json())
    assert [(t["code"], t["requiresFutureScheduledAt"], t["isActive"]) for t in types] == [
        (code, future, True) for code, future in SEEDED_TYPES
    ]
    assert {t["code"]: t["label"] for t in types}["RESCHEDULE"]
    assert (await client.get(TARGETS, headers=headers)).json() == []
    assert (await client.get(POLICIES, headers=headers)).json() == []


# ---------------------------------------------------------------------------------------------------
# Permissions
# ---------------------------------------------------------------------------------------------------
async def writes(client: Client, actor: Actor) -> list[tuple[str, str, Any]]:
    """Every write route, aimed at real rows of the actor's tenant."""
    ids = await key_ids(client, actor)
    config_id = (await first_config(client, actor))["id"]
    type_id = (await types_by_code(client, actor))["NO_CONTACT"]["id"]
    policy = await ok(client, actor, "POST", POLICIES, 200, json=camel_policy(ids["promotions"]))
    return [
        ("POST", POLICIES, camel_policy(ids["commerce_info"])),
        ("DELETE", f"{POLICIES}/{policy['id']}", None),
        ("POST", TARGETS, {"resolution_strategy": "MANUAL", "priority": 8}),
        ("PATCH", f"{TARGETS}/{config_id}", {"priority": 2}),
        ("DELETE", f"{TARGETS}/{config_id}", None),
        ("POST", TYPES, {"code": "NEW_TYPE", "label": "New"}),
        ("PATCH", f"{TYPES}/{type_id}", {"label": "Changed"}),
        ("DELETE", f"{TYPES}/{type_id}", None),
    ]


async def snapshot(client: Client, actor: Actor) -> list[Any]:
    return [await ok(client, actor, "GET", url) for url in (POLICIES, TARGETS, TYPES)]


@pytest.mark.parametrize("role", ["FDE", "VIEWER"])
async def test_only_admins_write_everyone_reads(client: Client, world: World, role: str) -> None:
    user = await add_user(client, world.admin_a, f"{role.lower()}@a.test", [role])
    routes = await writes(client, world.admin_a)
    before = await snapshot(client, world.admin_a)
    for method, url, body in routes:
        assert_error(await call(client, user, method, url, body), 403)
    assert await snapshot(client, user) == before  # reads are allowed, and nothing changed
    assert await ok(client, user, "GET", KEYS) == await ok(client, world.admin_a, "GET", KEYS)


async def test_admin_may_do_every_write(client: Client, world: World) -> None:
    for method, url, body in await writes(client, world.admin_a):
        response = await call(client, world.admin_a, method, url, body)
        assert response.status_code in (200, 201, 204), (method, url, response.text)


async def test_api_key_reads_config_and_needs_manage_to_write(client: Client, world: World) -> None:
    body = {"name": "cfg", "permissions": ["VIEW_ACTIVITIES"]}
    key = (await ok(client, world.admin_a, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]
    headers = {"x-api-key": key}
    response = await client.get(TYPES, headers=headers)
    assert response.status_code == 200 and len(response.json()) == 4
    create = {"code": "KEYED", "label": "By key"}
    assert_error(await client.post(TYPES, headers=headers, json=create), 403)
    body = {"name": "cfg-admin", "permissions": ["MANAGE_ACTIVITY_CONFIG"]}
    admin_key = (await ok(client, world.admin_a, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]
    response = await client.post(TYPES, headers={"x-api-key": admin_key}, json=create)
    assert response.status_code == 201, response.text
    assert "KEYED" in await types_by_code(client, world.admin_a)
    assert "KEYED" not in await types_by_code(client, world.admin_b)
