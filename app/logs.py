"""JSON logs (one object per line) and the per-request access line: no bodies, no secrets, no query."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import UnsupportedMediaType, send_error
from app.policy import RoutePolicy

__all__ = ("RequestLogMiddleware", "configure_logging")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
access_log = logging.getLogger("reten.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers


class RequestLogMiddleware(ASGIMiddleware):
    """Outermost: request id (echoed or made), JSON-only bodies (415), one access line per request."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:  # ``scopes`` says so; this tells the type checker
            await next_app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if (
                scope["method"] in _BODY_METHODS
                and _has_body(headers)
                and content_type != b"application/json"
            ):
                problem = UnsupportedMediaType("Content-Type must be application/json")
                await send_error(scope, receive, send_with_id, problem)
            else:
                await next_app(scope, receive, send_with_id)
        finally:
            if (
                scope["litestar_app"].state.settings.log_requests
                and RoutePolicy.of(scope["route_handler"], scope["path"]).log_requests
                and access_log.isEnabledFor(logging.INFO)
            ):
                principal = scope.get("user")
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "tenant_id": str(getattr(principal, "tenant_id", None) or "") or None,
                        "principal": _principal_label(principal),
                    },
                )


def _principal_label(principal: Any) -> str | None:
    if principal is None:
        return None
    if principal.kind == "api_key":
        return f"api_key:{principal.api_key_id}"
    return f"user:{principal.user_id}"
