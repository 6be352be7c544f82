"""argon2id password hashing, off the event loop, with bounded concurrency (each hash holds 64 MiB)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ("Passwords",)


class Passwords:
    def __init__(self, profile: str, concurrency: int) -> None:
        self._hasher = (
            PasswordHasher.from_parameters(profiles.CHEAPEST) if profile == "cheapest" else PasswordHasher()
        )
        self._slots = asyncio.Semaphore(concurrency)
        # Verified for unknown users so both failures cost the same time.
        self._dummy = self._hasher.hash("reten-dummy-password")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; with ``stored=None`` burns a dummy verify."""
        async with self._slots:
            ok = await asyncio.to_thread(self._verify, stored or self._dummy, password)
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
