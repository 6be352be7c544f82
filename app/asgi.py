"""create_app(settings): the one place that wires routes, lifespan, dependencies and error handling."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from app.activities.controller import ActivityController
from app.activity_config.controller import ActivityConfigController
from app.api_keys.controller import ApiKeyController
from app.auth.controller import AuthController
from app.auth.guards import API_KEY, BEARER
from app.auth.middleware import AuthMiddleware
from app.auth.principal import Principal
from app.commerces.controller import CommerceController
from app.config import Settings, load_settings
from app.db import db_lifespan, provide_db
from app.dispatch.controller import DispatchConfigController, DispatchProviderController
from app.errors import handle_exception
from app.health import health, ready
from app.integration.controller import IntegrationController
from app.logs import RequestLogMiddleware, configure_logging
from app.operators.controller import OperatorController
from app.results.controller import ResultController
from app.routes.controller import RouteController
from app.state import Services
from app.tenants.controller import TenantController
from app.users.controller import UserController

__all__ = ("create_app", "create_app_from_env")

API_DESCRIPTION = """Reten: multi-tenant field activities.

Every route under `/api` needs credentials unless marked public: a JWT (`Authorization: Bearer`, from
`POST /api/auth/login`) with `x-tenant-id` for tenant-scoped routes, or an API key (`x-api-key`), which
selects its own tenant. Each operation names its permission in its description and in its security
requirement's scopes. Errors: `{"statusCode", "message", "error"}` (+ `details` for validation).
Tenant isolation is enforced by PostgreSQL row-level security."""


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = {"auth": "public", "log_requests": False}


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    return request.scope.get("user")  # type: ignore[return-value]


def _tenant(request: Request[Any, Any, Any]) -> uuid.UUID:
    """The request's tenant (tenant-scoped routes only: x-tenant-id with a JWT, or the API key's)."""
    principal: Principal = request.scope["user"]  # type: ignore[assignment]
    return principal.tenant


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
            ResultController,
            ActivityConfigController,
            IntegrationController,
            DispatchProviderController,
            DispatchConfigController,
        ],
        lifespan=[db_lifespan],
        dependencies={
            "db": Provide(provide_db),
            "services": Provide(lambda: services, sync_to_thread=False, use_cache=True),
            "principal": Provide(_principal, sync_to_thread=False),
            "tenant": Provide(_tenant, sync_to_thread=False),
        },
        middleware=[
            RequestLogMiddleware(),
            prometheus.middleware,
            AuthMiddleware(),
        ],
        exception_handlers={Exception: handle_exception},
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
    return app


def create_app_from_env() -> Litestar:
    """Factory for the ASGI server (workers read the environment the runner prepared)."""
    return create_app(load_settings())
