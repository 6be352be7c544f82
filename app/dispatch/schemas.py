"""Dispatch providers (global) and the tenant's dispatch configs (CONTRACT.md §8)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

from app.activities.schemas import Channel
from app.structs import CamelInput, Name, Output, Timestamp, either_spelling, one_spelling, whole

__all__ = (
    "ChannelDefinition",
    "ChannelDefinitionWrite",
    "DispatchConfig",
    "DispatchConfigCreated",
    "DispatchConfigWrite",
    "Provider",
    "ProviderCreate",
    "ProviderRef",
    "ProviderUpdate",
    "SigningSecret",
)

Schema = msgspec.Raw  # [{key, label, type, required}] as stored
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Credentials = Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=4096)]], msgspec.Meta(max_length=32)]
Settings = Annotated[dict[str, Any], msgspec.Meta(max_length=64)]


class Provider(Output):
    id: uuid.UUID
    code: str
    name: str
    protocol_type: Literal["REST", "MOCK"]
    is_active: bool
    channel_definitions: msgspec.Raw  # [{channel, credentialSchema, settingsSchema}]


class ChannelDefinition(Output):
    id: uuid.UUID
    dispatch_provider_id: uuid.UUID
    channel: Channel
    credential_schema: Schema
    settings_schema: Schema
    created_at: Timestamp
    updated_at: Timestamp


class ProviderRef(Output):
    code: str
    name: str


class DispatchConfig(Output):
    """Credentials are never returned: ``hasCredentials`` (addition) says whether some are stored."""

    id: uuid.UUID
    dispatch_provider_id: uuid.UUID
    channel: Channel
    base_url: str | None
    settings: msgspec.Raw
    is_active: bool
    has_credentials: bool
    dispatch_provider: ProviderRef
    created_at: Timestamp
    updated_at: Timestamp


class DispatchConfigCreated(DispatchConfig):
    """The create answer: the config, and its signing secret, shown this once (addition)."""

    signing_secret: str


class SigningSecret(Output):
    """A new signing secret, shown this once; the one it replaced (if any) signs beside it until
    ``previousSecretExpiresAt`` (addition)."""

    signing_secret: str
    previous_secret_expires_at: Timestamp | None


class DispatchConfigWrite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Either revision of the body (camelCase ``dispatchProviderId, baseUrl`` or snake_case
    ``dispatch_provider_id, base_url``); ``channel``, ``credentials``, ``settings`` and ``is_active``/
    ``isActive`` (PATCH; addition) are spelt alike. On PATCH every field is optional, and credentials
    sent replace the stored ones."""

    dispatch_provider_id: uuid.UUID | None = None
    dispatch_provider_id_camel: uuid.UUID | None = msgspec.field(default=None, name="dispatchProviderId")
    channel: Channel | None = None
    base_url: Url | None = None
    base_url_camel: Url | None = msgspec.field(default=None, name="baseUrl")
    credentials: Credentials | None = None
    settings: Settings | None = None
    is_active: bool | None = None
    is_active_camel: bool | None = msgspec.field(default=None, name="isActive")

    def fields(self, *, create: bool) -> dict[str, Any]:
        """The fields sent, one spelling each (ValueError names what is wrong); on create the provider
        and channel are required."""
        pick = one_spelling if create else either_spelling
        out = {
            "dispatch_provider_id": pick(
                "dispatch_provider_id", self.dispatch_provider_id, self.dispatch_provider_id_camel
            ),
            "channel": pick("channel", self.channel, None),
            "base_url": either_spelling("base_url", self.base_url, self.base_url_camel),
            "credentials": self.credentials,
            "settings": self.settings,
            "is_active": either_spelling("is_active", self.is_active, self.is_active_camel),
        }
        return {k: v for k, v in out.items() if v is not None}


class SchemaField(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One credential or settings field a channel definition asks for."""

    key: Annotated[str, msgspec.Meta(pattern=whole(r"[A-Za-z][A-Za-z0-9_]{0,63}"))]
    label: Name
    type: Literal["text", "password", "url", "number", "boolean"]
    required: bool = False


class ProviderCreate(CamelInput):
    code: Annotated[str, msgspec.Meta(pattern=whole(r"[A-Z][A-Z0-9_]{0,63}"))]
    name: Name
    protocol_type: Literal["REST", "MOCK"]


class ProviderUpdate(CamelInput):
    name: Name | None = None
    is_active: bool | None = None


class ChannelDefinitionWrite(CamelInput):
    credential_schema: Annotated[list[SchemaField], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=list
    )
    settings_schema: Annotated[list[SchemaField], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=list
    )
