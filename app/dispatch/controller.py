"""``/api/dispatch-providers`` (global, read), ``/api/dispatch-configs`` (the tenant's), and manual
dispatch of a task (``/api/activities/tasks/:id/dispatch``, documented with the activities)."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post, put

from app.activities.schemas import Channel
from app.auth.guards import access
from app.db import Connection, Transactions, Tx
from app.dispatch import delivery, service
from app.dispatch.schemas import (
    ChannelDefinition,
    ChannelDefinitionWrite,
    DispatchConfig,
    DispatchConfigCreated,
    DispatchConfigWrite,
    Provider,
    ProviderCreate,
    ProviderUpdate,
    SigningSecret,
)
from app.state import Services

__all__ = ("DispatchConfigController", "DispatchProviderController", "TaskDispatchController")

_RULES = (
    "The provider must be active and define the channel (400); the credential and settings keys its "
    "channel definition marks required must be present (400); keys beyond its credential schema are kept,"
    " encrypted like the rest. `baseUrl` is required for a REST provider (MOCK ignores it): https, no "
    "user info, and it must not point at a private, loopback, link-local or otherwise non-public address "
    "(a literal IP in any notation, or what the name resolves to when DNS answers; every call checks the "
    "connected address again). One active config per channel (409). Credentials are encrypted with "
    "AES-256-GCM and never returned; `hasCredentials` (addition) says whether some are stored."
)
_SIGNED = (
    "Every call to the provider is signed as Standard Webhooks 1.0 does (addition), beside `x-api-key` "
    "and `x-reten-delivery-id`: `webhook-id` (the delivery id, the same on every attempt of an activity: "
    "dedup on it), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` "
    '(`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, several separated by '
    "spaces), with the config's own signing secret (`whsec_...`; e.g. "
    "`standardwebhooks.Webhook(secret).verify(body, headers)`). The secret is made when the config is "
    "created and shown in that 201 answer only (`signingSecret`), never by GET, list or PATCH; it is "
    "stored encrypted like the credentials. Configs created before signing existed have none: their calls "
    "are unsigned until `POST /api/dispatch-configs/:id/signing-secret` makes one."
)


class DispatchProviderController(Controller):
    path = "/api/dispatch-providers"
    tags = ["Dispatch"]

    @get(
        "/",
        operation_id="ListDispatchProviders",
        summary="Dispatch providers with their channel definitions",
        **access("VIEW_ACTIVITIES", auth="user", doc="Global (not per tenant); `x-tenant-id` is not needed."),
    )
    async def list_providers(self, db: Connection) -> list[Provider]:
        return await service.providers(db)

    @get(
        "/{provider_id:uuid}/channel-definitions",
        operation_id="ListDispatchChannelDefinitions",
        summary="A provider's channel definitions",
        **access("VIEW_ACTIVITIES", auth="user", doc="Unknown provider -> 404."),
    )
    async def list_channel_definitions(
        self, db: Connection, provider_id: uuid.UUID
    ) -> list[ChannelDefinition]:
        return await service.channel_definitions(db, provider_id)

    @post(
        "/",
        operation_id="CreateDispatchProvider",
        summary="Register a dispatch provider (addition)",
        **access(
            "MANAGE_DISPATCH_PROVIDERS",
            auth="user",
            db_role="identity",
            doc="SUPER_ADMIN only. Body `{code, name, protocolType}` (`REST` or `MOCK`); its channels are "
            "defined with `PUT /api/dispatch-providers/:id/channel-definitions/:channel`. A taken code -> "
            "409.",
            statuses=(409,),
        ),
    )
    async def create_provider(self, db: Connection, data: ProviderCreate) -> Provider:
        return await service.create_provider(db, data)

    @patch(
        "/{provider_id:uuid}",
        operation_id="UpdateDispatchProvider",
        summary="Rename or switch a dispatch provider on/off (addition)",
        **access(
            "MANAGE_DISPATCH_PROVIDERS",
            auth="user",
            db_role="identity",
            doc="SUPER_ADMIN only. Body `{name?, isActive?}`; an inactive provider takes no new configs.",
        ),
    )
    async def update_provider(self, db: Connection, provider_id: uuid.UUID, data: ProviderUpdate) -> Provider:
        return await service.update_provider(db, provider_id, data)

    @put(
        "/{provider_id:uuid}/channel-definitions/{channel:str}",
        operation_id="SaveDispatchChannelDefinition",
        summary="Define a provider's channel (addition)",
        **access(
            "MANAGE_DISPATCH_PROVIDERS",
            auth="user",
            db_role="identity",
            doc="SUPER_ADMIN only. Body `{credentialSchema, settingsSchema}`: lists of `{key, label, type, "
            "required}` (`type`: text, password, url, number, boolean). Creates the definition or replaces "
            "its schemas.",
        ),
    )
    async def save_channel_definition(
        self, db: Connection, provider_id: uuid.UUID, channel: Channel, data: ChannelDefinitionWrite
    ) -> ChannelDefinition:
        return await service.save_channel_definition(db, provider_id, channel, data)


class DispatchConfigController(Controller):
    path = "/api/dispatch-configs"
    tags = ["Dispatch"]

    @get(
        "/",
        operation_id="ListDispatchConfigs",
        summary="The tenant's dispatch configs",
        **access("VIEW_ACTIVITIES", doc="Never shows credentials or signing secrets. " + _SIGNED),
    )
    async def list_configs(self, tx: Tx) -> list[DispatchConfig]:
        return await service.configs(tx)

    @post(
        "/",
        operation_id="CreateDispatchConfig",
        summary="Create a dispatch config",
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="Body: `dispatchProviderId`/`dispatch_provider_id`, `channel`, `baseUrl`/`base_url`, "
            "`credentials` (an object), `settings` (an object). " + _RULES + "\n\n" + _SIGNED,
            statuses=(404, 409),
        ),
    )
    async def create_config(
        self, tx: Tx, services: Services, data: DispatchConfigWrite
    ) -> DispatchConfigCreated:
        return await service.create_config(tx, services, data)

    @post(
        "/{config_id:uuid}/signing-secret",
        operation_id="RotateDispatchConfigSigningSecret",
        summary="Rotate a dispatch config's signing secret (addition)",
        status_code=200,
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="Makes a new signing secret and answers it this once (`signingSecret`). The previous one "
            "keeps signing beside it for 24 h (`previousSecretExpiresAt`; two signatures in "
            "`webhook-signature`), so the receiver can switch without losing a call; then only the new "
            "one signs. A config created before signing existed gets its first secret (its calls were "
            "unsigned until now). Another tenant's or an unknown id -> 404.\n\n" + _SIGNED,
        ),
    )
    async def rotate_signing_secret(self, tx: Tx, services: Services, config_id: uuid.UUID) -> SigningSecret:
        return await service.rotate_signing_secret(tx, services, config_id)

    @patch(
        "/{config_id:uuid}",
        operation_id="UpdateDispatchConfig",
        summary="Update a dispatch config",
        **access(
            "MANAGE_ACTIVITY_CONFIG",
            doc="Any field of the create body, plus `isActive`/`is_active`; credentials sent replace the "
            "stored ones. A PATCH that changes `baseUrl`, the provider or the channel must carry the "
            "credentials again (400 otherwise): a stored secret is only sent where it was entered for. "
            "The signing secret is kept (rotate it with `POST /api/dispatch-configs/:id/signing-secret`) "
            "and not shown. " + _RULES,
            statuses=(409,),
        ),
    )
    async def update_config(
        self, tx: Tx, services: Services, config_id: uuid.UUID, data: DispatchConfigWrite
    ) -> DispatchConfig:
        return await service.update_config(tx, services, config_id, data)

    @delete(
        "/{config_id:uuid}",
        operation_id="DeactivateDispatchConfig",
        summary="Deactivate a dispatch config",
        **access("MANAGE_ACTIVITY_CONFIG", doc="Soft delete: `isActive` becomes false (204)."),
    )
    async def deactivate_config(self, tx: Tx, config_id: uuid.UUID) -> None:
        await service.deactivate_config(tx, config_id)


class TaskDispatchController(Controller):
    """Under ``/api/activities`` with the activities' routes (and their tag), but dispatch's code: the
    activities package does not depend on dispatch."""

    path = "/api/activities"
    tags = ["Activities"]

    @post(
        "/tasks/{activity_id:uuid}/dispatch",
        operation_id="DispatchTask",
        summary="Dispatch a task now",
        status_code=204,
        **access(
            "DISPATCH_ACTIVITY",
            doc="Asks that a TASK be delivered now, to the provider of the active dispatch config of its "
            "channel; the answer does not depend on a race with the dispatcher. READY and not in flight: "
            "one attempt now. A delivery already in flight (the dispatcher's): the call waits for that "
            "attempt (at most the provider timeout, 15 s) and answers its outcome. Already DISPATCHED: "
            "204, nothing sent again. Success -> 204 and the task is DISPATCHED (its `providerActivityId` "
            "from the provider's answer). A provider failure -> 502 with `errorCode`; the attempt is "
            "counted (a DISPATCH_FAILED event), and the third failed attempt makes the task FAILED. Not "
            "a TASK, or UNRESOLVED / COMPLETED / CANCELED / FAILED -> 400; no active config for its "
            "channel -> 404.",
            statuses=(409, 502),
        ),
    )
    async def dispatch_task(
        self, transactions: Transactions, services: Services, activity_id: uuid.UUID
    ) -> None:
        await delivery.dispatch_now(transactions, services, activity_id)
