"""CLIENT_HOOK attribute resolution: the tenant's hook is asked for the value, through the guarded HTTP
client (CONTRACT.md §8's address rules; a 5 s budget, since the caller waits: an activity create, a
retry, or a dispatch).

The request (our decision, the docs do not show one): ``POST {hook_url}`` with
``{"attributeKey", "activity": {"id", "type", "channel", "commerceId", "commerceExternalId"}}``; the
answer must be a 2xx JSON object with ``value`` (any JSON). Anything else fails that attribute, which
then takes the caller's fallback if there is one.

A hook is never called with a database connection held: the code that resolves raises ``HooksNeeded``
inside its transaction when it meets a hook it has no answer for; ``HookCaller.around`` lets that
transaction roll back (releasing the connection), asks the hooks, and runs the code again, in a new
transaction, with the answers. So a tenant whose hook never answers holds no connection, and at most
``HOOK_MAX_IN_FLIGHT_PER_TENANT`` of its calls are in flight in a process: beyond that an attribute
fails at once (HOOK_BUSY) and takes its fallback."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import msgspec

from app.activities.resolution import Policy
from app.crypto import KeyRing
from app.outbound.addresses import Network
from app.outbound.http import DeliveryError, GuardedClient
from app.outbound.signing import SigningError, active, hook_message_id, sign_headers

__all__ = ("HookAnswers", "HookCaller", "HookSlots", "HooksNeeded", "due_hooks")

T = TypeVar("T")
# attribute key -> (True, value) or (False, why)
HookAnswers = dict[str, tuple[bool, Any]]

HOOK_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=3, sock_read=5)


def due_hooks(policies: list[Policy]) -> list[Policy]:
    """The policies among ``policies`` whose value a hook gives."""
    return [p for p in policies if p.resolver_type == "CLIENT_HOOK" and p.hook_url and not p.caller_provided]


class HooksNeeded(Exception):
    """Raised inside a transaction that met hooks it has no answers for: the transaction rolls back, the
    hooks are asked with no connection held, and the work runs again with their answers."""

    def __init__(self, tenant_id: uuid.UUID, policies: list[Policy], activity: dict[str, Any]) -> None:
        super().__init__("CLIENT_HOOK answers are needed")
        self.tenant_id = tenant_id  # whose hooks: the tenant of the transaction that met them
        self.policies = policies
        self.activity = activity


@dataclass
class HookSlots:
    """Hook calls in flight per tenant, in this process, at most ``limit`` each."""

    limit: int
    in_flight: dict[uuid.UUID, int] = field(default_factory=dict)

    def take(self, tenant_id: uuid.UUID) -> bool:
        if self.in_flight.get(tenant_id, 0) >= self.limit:
            return False
        self.in_flight[tenant_id] = self.in_flight.get(tenant_id, 0) + 1
        return True

    def give_back(self, tenant_id: uuid.UUID) -> None:
        left = self.in_flight[tenant_id] - 1
        if left:
            self.in_flight[tenant_id] = left
        else:
            del self.in_flight[tenant_id]


BUSY = (False, "HOOK_BUSY: too many calls to this tenant's hooks are in flight")


class HookCaller:
    def __init__(
        self,
        allowlist: tuple[Network, ...] = (),
        ports: frozenset[int] | None = None,
        slots: HookSlots | None = None,
        key_ring: KeyRing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.allowlist = allowlist
        self.ports = ports
        self.slots = slots or HookSlots(limit=8)
        self.key_ring = key_ring  # opens the policies' hook secrets, to sign each call
        self.clock = clock  # Unix seconds: the signature's timestamp, and whether a rotated-out secret signs

    async def around(self, run: Callable[[HookAnswers | None], Awaitable[T]]) -> T:
        """``run(None)``; when it needs hooks (``HooksNeeded``, its transaction rolled back), ask them
        (within the share of the tenant that needed them), holding nothing, then ``run(answers)``. ``run``
        opens its own transaction each time."""
        try:
            return await run(None)
        except HooksNeeded as needed:
            answers = await self.answers(needed.tenant_id, needed.policies, needed.activity)
        return await run(answers)

    async def answers(
        self, tenant_id: uuid.UUID, policies: list[Policy], activity: dict[str, Any]
    ) -> HookAnswers:
        """key -> (True, value) or (False, why), one call per CLIENT_HOOK policy, all at once, each
        within the tenant's share of calls in flight. Never call it with a connection held."""
        due = due_hooks(policies)
        if not due:
            return {}
        async with GuardedClient(self.allowlist, timeout=HOOK_TIMEOUT, ports=self.ports) as client:
            results = await asyncio.gather(*(self._within(tenant_id, client, p, activity) for p in due))
        return {p.key: r for p, r in zip(due, results, strict=True)}

    async def _within(
        self, tenant_id: uuid.UUID, client: GuardedClient, policy: Policy, activity: dict[str, Any]
    ) -> tuple[bool, Any]:
        if not self.slots.take(tenant_id):
            return BUSY
        try:
            return await self._ask(client, policy, activity)
        finally:
            self.slots.give_back(tenant_id)

    async def _ask(self, client: GuardedClient, policy: Policy, activity: dict[str, Any]) -> tuple[bool, Any]:
        """One call, signed with the policy's hook secrets (Standard Webhooks; ``webhook-id`` unique per
        call). A policy from before hook secrets has none: its calls go unsigned until it is rotated. A
        secret that cannot be read fails the attribute: no unsigned call for a policy that has one."""
        assert policy.hook_url is not None
        body = msgspec.json.encode({"attributeKey": policy.key, "activity": activity})
        headers: dict[str, str] = {}
        if policy.hook_signing is not None:
            try:
                keys = policy.hook_signing.open(self.key_ring)
            except SigningError as exc:
                return False, f"SIGNING_SECRET: {exc}"
            now = self.clock()
            headers = sign_headers(active(keys, now), hook_message_id(), body, now)
        try:
            response = await client.post_json(policy.hook_url, body, headers)
        except DeliveryError as exc:
            return False, f"{exc.code}: {exc}"
        answer = response.json()
        if not isinstance(answer, dict) or "value" not in answer:
            return False, "the hook's answer is not a JSON object with `value`"
        return True, answer["value"]
