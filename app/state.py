"""Process-wide services built once by create_app and kept on ``app.state.services``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.auth.api_keys import ApiKeyCache
from app.auth.passwords import Passwords
from app.auth.tokens import TokenService
from app.config import Settings
from app.crypto import KeyRing
from app.outbound.addresses import allowed_ports, parse_networks
from app.ratelimit import SharedBuckets, TokenBucket

if TYPE_CHECKING:
    from app.activities.hooks import HookCaller
    from app.outbound.http import GuardedClient

__all__ = ("Services",)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokens = TokenService(settings)
        self.passwords = Passwords(settings.password_hash_profile, settings.password_hash_concurrency)
        self.api_key_cache = ApiKeyCache(settings.api_key_cache_ttl_s, settings.api_key_negative_ttl_s)
        # Shared by every process through PostgreSQL (app/ratelimit.py), with no round trip per request.
        self.key_limiter: SharedBuckets | TokenBucket = SharedBuckets(
            "key", settings.api_key_rate_per_s, settings.api_key_burst
        )
        self.tenant_limiter: SharedBuckets | TokenBucket = SharedBuckets(
            "tenant", settings.tenant_rate_per_s, settings.tenant_burst
        )
        failures = settings.key_failures_per_minute
        self.key_failures_by_ip = TokenBucket(failures / 60, failures)
        # None only outside production without CREDENTIALS_KEYS: credential writes then answer 503.
        self.key_ring = KeyRing.parse(settings.credentials_keys) if settings.credentials_keys else None
        self.dispatch_allowlist = parse_networks(settings.dispatch_test_allowlist)
        self.dispatch_ports = allowed_ports(
            settings.dispatch_allowed_ports, allow_http=settings.dispatch_allow_http
        )
        # Password guesses (login, reset-my-password): failures only, per (identifier, client IP) and per
        # client IP; a success costs nothing and clears its pair.
        per_minute = settings.login_attempts_per_minute
        self.login_failures: SharedBuckets | TokenBucket = SharedBuckets("login", per_minute / 60, per_minute)
        self.login_by_ip: SharedBuckets | TokenBucket = SharedBuckets(
            "login_ip", 5 * per_minute / 60, 5 * per_minute
        )
        self.trusted_proxies = parse_networks(settings.trusted_proxies)
        # CLIENT_HOOK calls in flight per tenant (app/activities/hooks.py)
        from app.activities.hooks import HookSlots

        self.hook_slots = HookSlots(settings.hook_max_in_flight_per_tenant)

    async def outbound_url(self, url: str, field: str) -> str:
        """``url`` as an outbound call will use it, checked against the same rules as the calls
        (scheme, address, port); else the 400 naming ``field``."""
        from app.errors import BadRequest
        from app.outbound.addresses import UnsafeUrl, check_base_url

        try:
            return await check_base_url(
                url,
                allow_http=self.settings.dispatch_allow_http,
                allowlist=self.dispatch_allowlist,
                ports=self.dispatch_ports,
            )
        except UnsafeUrl as exc:
            raise BadRequest.field(field, str(exc)) from exc

    def signing_ring(self) -> KeyRing:
        """The key ring that encrypts signing secrets (the credentials' ring); 503 without one, as for
        credentials (only possible outside production)."""
        if self.key_ring is None:
            from app.errors import ServiceUnavailable

            raise ServiceUnavailable("Signing secrets cannot be stored: CREDENTIALS_KEYS is not configured")
        return self.key_ring

    def outbound_client(self) -> GuardedClient:
        """The guarded HTTP client for provider calls: allowed addresses and ports only."""
        from app.outbound.http import GuardedClient

        return GuardedClient(self.dispatch_allowlist, ports=self.dispatch_ports)

    def hook_caller(self) -> HookCaller:
        """CLIENT_HOOK calls, through the same guard, signed with each policy's hook secrets."""
        from app.activities.hooks import HookCaller

        return HookCaller(
            self.dispatch_allowlist, self.dispatch_ports, self.hook_slots, key_ring=self.key_ring
        )
