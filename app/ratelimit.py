"""A process-local token bucket (per API key, per login identifier and IP)."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable

__all__ = ("TokenBucket",)


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._max_keys = max_keys
        self._state: dict[Hashable, tuple[float, float]] = {}

    def take(self, key: Hashable) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._state) >= self._max_keys and key not in self._state:
                self._state.clear()
            self._state[key] = (tokens - 1.0, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s))
