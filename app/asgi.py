"""create_app(settings): the one place that wires routes, lifespan, dependencies and error handling."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.routes import HTTPRoute

from app.activities.controller import ActivityController
from app.activity_config.controller import ActivityConfigController
from app.api_keys.controller import ApiKeyController
from app.auth.guards import API_KEY, BEARER
from app.auth.middleware import AuthMiddleware
from app.auth.principal import Principal
from app.commerces.controller import CommerceController
from app.config import Settings, load_settings
from app.db import db_lifespan, provide_db, provide_transactions, provide_tx
from app.dispatch.controller import (
    DispatchConfigController,
    DispatchProviderController,
    TaskDispatchController,
)
from app.drain import drain_lifespan
from app.errors import handle_exception
from app.health import health, ready
from app.integration.controller import IntegrationController
from app.logs import RequestLogMiddleware, configure_logging
from app.openapi import InputStructSchemaPlugin, strict_parameters
from app.operators.controller import OperatorController
from app.policy import RoutePolicy
from app.ratelimit import shared_limits_lifespan
from app.results.controller import ResultController
from app.routes.controller import RouteController
from app.sessions.controller import AuthController
from app.state import Services
from app.structs import StrictRequest
from app.tenants.controller import TenantController
from app.users.controller import UserController

__all__ = ("create_app", "create_app_from_env")

API_DESCRIPTION = """Reten: multi-tenant field activities.

Every route under `/api` needs credentials unless marked public: a JWT (`Authorization: Bearer`, from
`POST /api/auth/login`) with `x-tenant-id` for tenant-scoped routes, or an API key (`x-api-key`), which
selects its own tenant. Each operation names its permission in its description and in its security
requirement's scopes. Errors: `{"statusCode", "message", "error"}` (+ `details` for validation), the
`ErrorBody` schema, declared on every operation for each status it can answer. Input is strict: request
bodies refuse unknown fields and values of another JSON type, and query parameters must be what their
schema says (`1e3` is not an integer, `0` is not a boolean). No string may contain U+0000.
Tenant isolation is enforced by PostgreSQL row-level security."""


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = RoutePolicy(auth="public", log_requests=False).opt()


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def create_app(settings: Settings) -> Litestar:
    settings.validate()
    configure_logging(settings.log_level)
    services = Services(settings)
    prometheus = PrometheusConfig(app_name="reten", group_path=True, exclude=["/metrics", "/health"])
    app = Litestar(
        route_handlers=[
            health,
            ready,
            MetricsController,
            AuthController,
            TenantController,
            UserController,
            ApiKeyController,
            CommerceController,
            OperatorController,
            RouteController,
            ActivityController,
            TaskDispatchController,
            ResultController,
            ActivityConfigController,
            IntegrationController,
            DispatchProviderController,
            DispatchConfigController,
        ],
        lifespan=[db_lifespan, shared_limits_lifespan, drain_lifespan],
        dependencies={
            "db": Provide(provide_db),
            "tx": Provide(provide_tx),
            "transactions": Provide(provide_transactions, sync_to_thread=False),
            "services": Provide(lambda: services, sync_to_thread=False, use_cache=True),
            "principal": Provide(_principal, sync_to_thread=False),
        },
        middleware=[
            RequestLogMiddleware(),
            prometheus.middleware,
            AuthMiddleware(),
        ],
        exception_handlers={Exception: handle_exception},
        # Input as /schema documents it: bodies decoded strictly into the handler's type, query and header
        # values checked against their documented type (a layer's own before_request would replace this
        # one: none sets one), input Structs described as closed.
        request_class=StrictRequest,
        before_request=strict_parameters,
        plugins=[InputStructSchemaPlugin()],
        request_max_body_size=settings.request_max_body_bytes,
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_headers=[
                "authorization",
                "content-type",
                "x-api-key",
                "x-tenant-id",
                "x-request-id",
            ],
            expose_headers=["x-request-id", "retry-after"],
        )
        if settings.cors_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="Reten API",
            version="0.1.0",
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    API_KEY: SecurityScheme(type="apiKey", name="x-api-key", security_scheme_in="header"),
                }
            ),
        ),
        logging_config=None,
        debug=False,
    )
    app.state.settings = settings
    app.state.services = services
    _allow_every_method(app)
    return app


def _allow_every_method(app: Litestar) -> None:
    """``OPTIONS`` answers ``Allow`` with every method of its path. Litestar 2.x builds a controller's routes
    one handler at a time and keeps the OPTIONS handler made for the first one, so with several handlers
    on one path (GET and POST /api/activities) ``Allow`` named only the first (litestar#4169, fixed in
    3.0). Each route's automatic OPTIONS handler gets the function Litestar makes for the whole route."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler, _ = route.route_handler_map["OPTIONS"]
        if handler.handler_name == "options_handler":  # made by Litestar, not declared by us
            handler._fn = route.create_options_handler(route.path).fn


def create_app_from_env() -> Litestar:
    """Factory for the ASGI server (workers read the environment the runner prepared)."""
    return create_app(load_settings())
