"""The one error table: domain errors, framework errors and SQLSTATEs -> the documented error body.

Body: ``{"statusCode": 400, "message": "...", "error": "Bad Request"}`` (+ ``details`` for validation).
Never a stack trace, SQL text or another tenant's data.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

__all__ = (
    "AppError",
    "BadGateway",
    "BadRequest",
    "Conflict",
    "ErrorBody",
    "Forbidden",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_response",
    "handle_exception",
    "send_error",
)

log = logging.getLogger("reten.errors")


class ErrorDetail(msgspec.Struct):
    """One invalid input: where (a body path such as ``items[2].name``, or a parameter) and why."""

    field: str
    message: str


class ErrorBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """The body of every error answer (CONTRACT.md §1). /schema documents it once, as this component, for
    every status an operation declares (``app.auth.guards.access``)."""

    status_code: Annotated[int, msgspec.Meta(ge=400, le=599, description="The HTTP status, repeated")]
    message: Annotated[str, msgspec.Meta(description="What went wrong, for people; never SQL or a trace")]
    error: Annotated[str, msgspec.Meta(description="The HTTP reason phrase, e.g. `Bad Request`")]
    details: Annotated[
        list[ErrorDetail] | None, msgspec.Meta(description="Validation errors only: each invalid field")
    ] = None
    activity_id: Annotated[
        str | None, msgspec.Meta(description="409 on an activity create: the activity holding the key")
    ] = None
    error_code: Annotated[
        str | None, msgspec.Meta(description="502 on a dispatch: how the provider call failed")
    ] = None


class AppError(Exception):
    """A domain error with its HTTP status. ``commit=True`` keeps the request's writes (e.g. a family
    revocation that must survive the 401 it causes)."""

    status_code = 500
    commit = False

    def __init__(
        self,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(AppError):
    status_code = 400

    @classmethod
    def field(cls, field: str, message: str) -> BadRequest:
        return cls(f"{field}: {message}", details=[ErrorDetail(field=field, message=message)])


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404

    @classmethod
    def of(cls, what: str) -> NotFound:
        return cls(f"{what} not found")


class Conflict(AppError):
    status_code = 409


class UnsupportedMediaType(AppError):
    status_code = 415


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})


class BadGateway(AppError):
    """The provider an activity was dispatched to failed; ``errorCode`` says how (no response body)."""

    status_code = 502


class ServiceUnavailable(AppError):
    status_code = 503

    def __init__(self, message: str = "Service temporarily unavailable, retry later") -> None:
        super().__init__(message, headers={"Retry-After": "1"})


# A new user's email or username is taken (by any account, in this tenant or another): one neutral
# answer, which names neither which identifier nor where the account is.
IDENTIFIER_TAKEN = "This email or username cannot be used for a new user"

# Unique constraints -> the message a client sees (field named, no SQL). Later issues add their own.
CONSTRAINT_MESSAGES: dict[str, str] = {
    "tenants_slug_key": "slug already exists",
    "users_email_key": IDENTIFIER_TAKEN,
    "users_username_key": IDENTIFIER_TAKEN,
    "api_keys_tenant_digest_key": "API key collision, retry",
    "commerces_external_id_key": "external_id already exists",
    "commerces_tax_id_key": "tax_id already exists",
    "commerce_addresses_source_ref_key": "source_ref already exists for this commerce",
    "commerce_users_external_id_key": "external_id already exists for this commerce",
    "commerce_user_contacts_value_key": "contact already exists",
    "operators_email_key": "email already exists",
    "operators_type_external_id_key": "type and external_id already exist",
    "routes_code_key": "code already exists",
    "dispatch_configs_active_channel_key": "an active dispatch config already exists for this channel",
    "dispatch_providers_code_key": "code already exists",
    "routes_external_id_key": "external_id already exists",
    "task_result_types_code_key": "code already exists",
    "target_resolution_configs_priority_key": "priority is already used by another active config",
}

_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def _classify(exc: BaseException) -> tuple[int, str, dict[str, str], list[ErrorDetail] | None]:
    """Map any exception to (status, message, headers, details). This is the whole table."""
    if isinstance(exc, AppError):
        return exc.status_code, exc.message, exc.headers, exc.details
    if isinstance(exc, ValidationException):
        details = _validation_details(exc.extra)
        message = details[0].message if details else "Validation failed"
        if details and details[0].field:
            message = f"{details[0].field}: {details[0].message}"
        return 400, message, {}, details
    cause = exc.__cause__
    if (
        isinstance(exc, NotFoundException)
        and isinstance(cause, ValueError)
        and not isinstance(cause, HTTPException)  # litestar's NotFoundException is a ValueError too
    ):
        # The router could not parse a typed path parameter (e.g. a malformed UUID): a client error.
        return 400, "Malformed identifier in path", {}, None
    if isinstance(exc, HTTPException):
        headers = dict(exc.headers or {})
        return exc.status_code, str(exc.detail), headers, None
    if isinstance(exc, asyncpg.UniqueViolationError):
        message = CONSTRAINT_MESSAGES.get(constraint_of(exc), "resource already exists")
        return 409, message, {}, None
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return 409, "a referenced resource does not exist or is still referenced", {}, None
    if isinstance(exc, (asyncpg.CheckViolationError, asyncpg.NotNullViolationError)):
        return 400, "a value is out of range or missing", {}, None
    if isinstance(exc, asyncpg.DataError):
        return 400, "a value has the wrong form", {}, None
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        log.error("insufficient_privilege", extra={"sqlstate": exc.sqlstate})
        return 403, "Forbidden", {}, None
    if isinstance(exc, _UNAVAILABLE):
        log.warning("database_unavailable", extra={"exc_type": type(exc).__name__})
        return 503, "Service temporarily unavailable, retry later", {"Retry-After": "1"}, None
    log.exception("unhandled_error", exc_info=exc)
    return 500, "Internal server error", {}, None


_SHARD_SUFFIX = re.compile(r"_\d+$")
_QUOTED_CONSTRAINT = re.compile(r'constraint "([^"]+)"')


def constraint_of(exc: asyncpg.PostgresError) -> str:
    """The violated constraint's name. On Citus the error is relayed from a shard: the constraint is
    named only in the message, and with the shard id appended (``tenants_slug_key_102010``), which is
    dropped when the plain name is unknown."""
    name = getattr(exc, "constraint_name", None)
    if not name:
        found = _QUOTED_CONSTRAINT.search(str(getattr(exc, "message", "") or ""))
        name = found.group(1) if found else ""
    return name if name in CONSTRAINT_MESSAGES else _SHARD_SUFFIX.sub("", name)


def _validation_details(extra: Any) -> list[ErrorDetail]:
    out: list[ErrorDetail] = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict):
                key = str(item.get("key") or "")
                message = str(item.get("message") or "invalid value")
                out.append(ErrorDetail(field=key.removeprefix("$."), message=message))
    return out


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[ErrorDetail] | None = None,
    extra: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    body = ErrorBody(
        status_code=status,
        message=message,
        error=HTTPStatus(status).phrase,
        details=details,
        activity_id=(extra or {}).get("activityId"),
        error_code=(extra or {}).get("errorCode"),
    )
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


def handle_exception(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    status, message, headers, details = _classify(exc)
    extra = exc.extra if isinstance(exc, AppError) else None
    return error_response(status, message, headers, details, extra)


_ENCODER = msgspec.json.Encoder()


async def send_error(scope: Any, receive: Any, send: Any, exc: BaseException) -> None:
    """Answer an ASGI request with the error body, outside Litestar's handler (used by middleware)."""
    status, message, headers, details = _classify(exc)
    extra = exc.extra if isinstance(exc, AppError) else None
    body = _ENCODER.encode(
        ErrorBody(
            status_code=status,
            message=message,
            error=HTTPStatus(status).phrase,
            details=details,
            activity_id=(extra or {}).get("activityId"),
        )
    )
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
