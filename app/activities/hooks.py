"""CLIENT_HOOK attribute resolution: the tenant's hook is asked for the value, through the guarded HTTP
client (CONTRACT.md §8's address rules; a 5 s budget, since the caller waits: an activity create, a
retry, or a dispatch).

The request (our decision, the docs do not show one): ``POST {hook_url}`` with
``{"attributeKey", "activity": {"id", "type", "channel", "commerceId", "commerceExternalId"}}``; the
answer must be a 2xx JSON object with ``value`` (any JSON). Anything else fails that attribute, which
then takes the caller's fallback if there is one."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from app.activities.resolution import Policy
from app.dispatch.addresses import Network
from app.dispatch.http import DeliveryError, GuardedClient

__all__ = ("HookCaller",)

HOOK_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=3, sock_read=5)


class HookCaller:
    def __init__(self, allowlist: tuple[Network, ...] = (), ports: frozenset[int] | None = None) -> None:
        self.allowlist = allowlist
        self.ports = ports

    async def answers(self, policies: list[Policy], activity: dict[str, Any]) -> dict[str, tuple[bool, Any]]:
        """key -> (True, value) or (False, why), one call per CLIENT_HOOK policy, all at once."""
        due = [
            p for p in policies if p.resolver_type == "CLIENT_HOOK" and p.hook_url and not p.caller_provided
        ]
        if not due:
            return {}
        async with GuardedClient(self.allowlist, timeout=HOOK_TIMEOUT, ports=self.ports) as client:
            results = await asyncio.gather(*(self._ask(client, p, activity) for p in due))
        return {p.key: r for p, r in zip(due, results, strict=True)}

    @staticmethod
    async def _ask(client: GuardedClient, policy: Policy, activity: dict[str, Any]) -> tuple[bool, Any]:
        assert policy.hook_url is not None
        body = msgspec.json.encode({"attributeKey": policy.key, "activity": activity})
        try:
            response = await client.post_json(policy.hook_url, body, {})
        except DeliveryError as exc:
            return False, f"{exc.code}: {exc}"
        answer = response.json()
        if not isinstance(answer, dict) or "value" not in answer:
            return False, "the hook's answer is not a JSON object with `value`"
        return True, answer["value"]
