"""Process-wide services built once by create_app and kept on ``app.state.services``."""

from __future__ import annotations

from app.auth.api_keys import ApiKeyCache
from app.auth.passwords import Passwords
from app.auth.tokens import TokenService
from app.config import Settings
from app.dispatch.addresses import parse_networks
from app.dispatch.crypto import KeyRing
from app.ratelimit import TokenBucket

__all__ = ("Services",)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokens = TokenService(settings)
        self.passwords = Passwords(settings.password_hash_profile, settings.password_hash_concurrency)
        self.api_key_cache = ApiKeyCache(settings.api_key_cache_ttl_s)
        self.key_limiter = TokenBucket(settings.api_key_rate_per_s, settings.api_key_burst)
        # None only outside production without CREDENTIALS_KEYS: credential writes then answer 503.
        self.key_ring = KeyRing.parse(settings.credentials_keys) if settings.credentials_keys else None
        self.dispatch_allowlist = parse_networks(settings.dispatch_test_allowlist)
        # Password guesses (login, reset-my-password): failures only, per (identifier, client IP) and per
        # client IP; a success costs nothing and clears its pair.
        per_minute = settings.login_attempts_per_minute
        self.login_failures = TokenBucket(per_minute / 60, per_minute)
        self.login_by_ip = TokenBucket(5 * per_minute / 60, 5 * per_minute)
        self.trusted_proxies = parse_networks(settings.trusted_proxies)
