"""JWT access and refresh tokens (RFC 8725): HS256 pinned, iss/aud/exp/iat/sub/jti required, and two
kinds with mutually exclusive audiences so a refresh token can never pass as an access token."""

from __future__ import annotations

import time
import uuid

import jwt
import msgspec

from app.config import Settings
from app.errors import Unauthorized

__all__ = ("RefreshClaims", "TokenService")

ALGORITHM = "HS256"
LEEWAY_S = 30
REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


class RefreshClaims(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    jti: uuid.UUID
    family_id: uuid.UUID
    expires_at: float


class TokenService:
    def __init__(self, settings: Settings) -> None:
        assert settings.jwt_secret is not None
        self._secret = settings.jwt_secret
        self._issuer = settings.jwt_issuer
        self._access_aud = settings.jwt_audience
        self._refresh_aud = f"{settings.jwt_audience}:refresh"
        self.access_ttl_s = settings.access_token_ttl_s
        self.refresh_ttl_s = settings.refresh_token_ttl_s

    def issue_access(self, user_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl_s,
            "iss": self._issuer,
            "aud": self._access_aud,
            "jti": str(uuid.uuid4()),
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue_refresh(self, user_id: uuid.UUID, family_id: uuid.UUID) -> tuple[str, RefreshClaims]:
        now = int(time.time())
        jti = uuid.uuid4()
        expires_at = now + self.refresh_ttl_s
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": expires_at,
            "iss": self._issuer,
            "aud": self._refresh_aud,
            "jti": str(jti),
            "fam": str(family_id),
            "typ": "refresh",
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return token, RefreshClaims(user_id, jti, family_id, float(expires_at))

    def _decode(self, token: str, audience: str, typ: str) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": REQUIRED, "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid or expired token") from exc
        if claims.get("typ") != typ:
            raise Unauthorized("Invalid or expired token")
        return claims

    def verify_access(self, token: str) -> uuid.UUID:
        """The user id of a valid access token; 401 for anything else."""
        claims = self._decode(token, self._access_aud, "access")
        return _uuid_claim(claims, "sub")

    def verify_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, self._refresh_aud, "refresh")
        exp = claims["exp"]
        assert isinstance(exp, int | float)
        return RefreshClaims(
            _uuid_claim(claims, "sub"), _uuid_claim(claims, "jti"), _uuid_claim(claims, "fam"), exp
        )


def _uuid_claim(claims: dict[str, object], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims[name]))
    except (KeyError, ValueError) as exc:
        raise Unauthorized("Invalid or expired token") from exc
