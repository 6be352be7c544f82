from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from app.auth.guards import access
from app.commerces import repo, service
from app.commerces.schemas import (
    Address,
    AddressCreate,
    AddressUpdate,
    Commerce,
    CommerceCreate,
    CommerceDetail,
    CommerceRole,
    CommerceSync,
    CommerceUpdate,
    Contact,
    ContactCreate,
    ContactUpdate,
    Person,
    PersonCreate,
    PersonUpdate,
    RoleAdd,
)
from app.db import Tx
from app.structs import Page, Pagination, Search, SyncResult, like_pattern, provide_pagination

__all__ = ("CommerceController",)

_PAGE = {"pagination": Provide(provide_pagination(25), sync_to_thread=False)}
_USER = "/{commerce_id:uuid}/users/{user_id:uuid}"


class CommerceController(Controller):
    path = "/api/commerces"
    tags = ["Commerces"]

    @get(
        "/",
        operation_id="ListCommerces",
        summary="List commerces",
        dependencies=_PAGE,
        **access(
            "MANAGE_COMMERCES",
            doc="Ordered by creation. `search` matches name or external id (substring, any case). "
            "`cursor` (addition) walks with a keyset instead of `page`.",
        ),
    )
    async def list_commerces(
        self,
        tx: Tx,
        pagination: Pagination,
        search: Search | None = None,
        external_id: Annotated[str | None, Parameter(max_length=255)] = None,
        global_external_id: Annotated[str | None, Parameter(max_length=255)] = None,
        is_active: bool | None = None,
        is_placeholder: bool | None = None,
    ) -> Page[Commerce]:
        return await repo.list_commerces(
            tx,
            pagination,
            search=like_pattern(search),
            external_id=external_id,
            global_external_id=global_external_id,
            is_active=is_active,
            is_placeholder=is_placeholder,
        )

    @post(
        "/",
        operation_id="CreateCommerce",
        summary="Create a commerce (addition; body as one sync item)",
        **access(
            "MANAGE_COMMERCES",
            doc="Answers the commerce with its addresses and users. An active commerce with the same "
            "`external_id` -> 409; a soft-deleted one is reactivated. `tax_id` is unique per tenant (409).",
            statuses=(409,),
        ),
    )
    async def create_commerce(self, tx: Tx, data: CommerceCreate) -> CommerceDetail:
        return await service.create(tx, data)

    @post(
        "/sync",
        operation_id="SyncCommerces",
        summary="Bulk upsert commerces with their addresses and users",
        **access(
            "SYNC_COMMERCES",
            doc="At most 1,000 items; one transaction: one invalid item -> 400 naming its index and field, "
            "and nothing is written. Commerces match by `external_id` (a soft-deleted one is reactivated, a "
            "placeholder becomes real); scalars are replaced and `metadata` is merged. Addresses match by "
            "`source_ref`, then a primary by the current primary, then identical content; users by "
            "`external_id` (sent `roles` replace theirs); contacts by (`contact_type`, `value`). Rows not in "
            "the payload are left alone. `updated` counts commerces where anything changed, so repeating a "
            "payload answers `created: 0, updated: 0`.",
            statuses=(409,),
        ),
    )
    async def sync_commerces(self, tx: Tx, data: CommerceSync) -> SyncResult:
        return await service.run_sync(tx, data)

    @get(
        "/{commerce_id:uuid}",
        operation_id="GetCommerce",
        summary="One commerce with its addresses, users, roles and contacts",
        **access("MANAGE_COMMERCES"),
    )
    async def get_commerce(self, tx: Tx, commerce_id: uuid.UUID) -> CommerceDetail:
        return await repo.commerce_detail(tx, commerce_id)

    @patch(
        "/{commerce_id:uuid}",
        operation_id="UpdateCommerce",
        summary="Update a commerce",
        **access(
            "MANAGE_COMMERCES",
            doc="All fields optional. `metadata` is merged (shallow): sent keys are set, others kept. "
            "`tax_id` unique per tenant (409); `null` clears it.",
            statuses=(409,),
        ),
    )
    async def update_commerce(self, tx: Tx, commerce_id: uuid.UUID, data: CommerceUpdate) -> Commerce:
        return await service.update(tx, commerce_id, data)

    @delete(
        "/{commerce_id:uuid}",
        operation_id="DeleteCommerce",
        summary="Deactivate a commerce (soft delete)",
        **access("MANAGE_COMMERCES", doc="Sets `isActive=false`; a later create or sync reactivates it."),
    )
    async def delete_commerce(self, tx: Tx, commerce_id: uuid.UUID) -> None:
        await service.deactivate(tx, commerce_id)

    # ---- addresses ------------------------------------------------------------------------------------
    @post(
        "/{commerce_id:uuid}/addresses",
        operation_id="AddCommerceAddress",
        summary="Add an address to a commerce",
        **access(
            "MANAGE_COMMERCES", doc="`is_primary: true` clears the previous primary address.", statuses=(409,)
        ),
    )
    async def add_address(self, tx: Tx, commerce_id: uuid.UUID, data: AddressCreate) -> Address:
        return await service.add_address(tx, commerce_id, data)

    @patch(
        "/{commerce_id:uuid}/addresses/{address_id:uuid}",
        operation_id="UpdateCommerceAddress",
        summary="Update an address",
        **access(
            "MANAGE_COMMERCES",
            doc="All fields optional; `source` and `source_ref` cannot be changed. `is_active` (addition) "
            "reactivates or deactivates it.",
        ),
    )
    async def update_address(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        address_id: uuid.UUID,
        data: AddressUpdate,
    ) -> Address:
        return await service.update_address(tx, commerce_id, address_id, data)

    @delete(
        "/{commerce_id:uuid}/addresses/{address_id:uuid}",
        operation_id="DeleteCommerceAddress",
        summary="Deactivate an address",
        **access("MANAGE_COMMERCES", doc="Soft delete: `isActive=false` and no longer primary."),
    )
    async def delete_address(self, tx: Tx, commerce_id: uuid.UUID, address_id: uuid.UUID) -> None:
        await service.remove_address(tx, commerce_id, address_id)

    # ---- commerce users ---------------------------------------------------------------------------------
    @post(
        "/{commerce_id:uuid}/users",
        operation_id="AddCommerceUser",
        summary="Add a person to a commerce",
        **access(
            "MANAGE_COMMERCES",
            doc="`name` is split into `firstName`/`lastName` on the first space.",
            statuses=(409,),
        ),
    )
    async def add_user(self, tx: Tx, commerce_id: uuid.UUID, data: PersonCreate) -> Person:
        return await service.add_person(tx, commerce_id, data)

    @patch(
        _USER,
        operation_id="UpdateCommerceUser",
        summary="Update a commerce user",
        **access("MANAGE_COMMERCES", statuses=(409,)),
    )
    async def update_user(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        user_id: uuid.UUID,
        data: PersonUpdate,
    ) -> Person:
        return await service.update_person(tx, commerce_id, user_id, data)

    @delete(
        _USER,
        operation_id="DeleteCommerceUser",
        summary="Deactivate a commerce user",
        **access("MANAGE_COMMERCES", doc="Soft delete: `isActive=false`."),
    )
    async def delete_user(self, tx: Tx, commerce_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await service.remove_person(tx, commerce_id, user_id)

    @post(
        _USER + "/roles",
        operation_id="AddCommerceUserRole",
        summary="Give a commerce user a role",
        **access("MANAGE_COMMERCES", doc="Idempotent; answers the user with its roles."),
    )
    async def add_role(self, tx: Tx, commerce_id: uuid.UUID, user_id: uuid.UUID, data: RoleAdd) -> Person:
        return await service.add_role(tx, commerce_id, user_id, data.role)

    @delete(
        _USER + "/roles/{role:str}",
        operation_id="RemoveCommerceUserRole",
        summary="Take a role from a commerce user",
        **access("MANAGE_COMMERCES", doc="404 when the user does not hold the role."),
    )
    async def remove_role(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        user_id: uuid.UUID,
        role: Annotated[CommerceRole, Parameter(description="OWNER, ORDERS, FINANCE, ATTENTION, ADMIN, ...")],
    ) -> None:
        await service.remove_role(tx, commerce_id, user_id, role)

    @post(
        _USER + "/contacts",
        operation_id="AddCommerceUserContact",
        summary="Add a contact to a commerce user",
        **access(
            "MANAGE_COMMERCES",
            doc="EMAIL must be an email address; PHONE and WHATSAPP E.164 (`+56912345678`). The same type "
            "and value again -> 409 (a removed one is reactivated). `is_primary` clears the previous primary "
            "of that type.",
            statuses=(409,),
        ),
    )
    async def add_contact(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        user_id: uuid.UUID,
        data: ContactCreate,
    ) -> Contact:
        return await service.add_contact(tx, commerce_id, user_id, data)

    @patch(
        _USER + "/contacts/{contact_id:uuid}",
        operation_id="UpdateCommerceUserContact",
        summary="Update a contact",
        **access("MANAGE_COMMERCES", doc="The value is validated against the (new) type.", statuses=(409,)),
    )
    async def update_contact(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        user_id: uuid.UUID,
        contact_id: uuid.UUID,
        data: ContactUpdate,
    ) -> Contact:
        return await service.update_contact(tx, commerce_id, user_id, contact_id, data)

    @delete(
        _USER + "/contacts/{contact_id:uuid}",
        operation_id="DeleteCommerceUserContact",
        summary="Deactivate a contact",
        **access("MANAGE_COMMERCES", doc="Soft delete: `isActive=false` and no longer primary."),
    )
    async def delete_contact(
        self,
        tx: Tx,
        commerce_id: uuid.UUID,
        user_id: uuid.UUID,
        contact_id: uuid.UUID,
    ) -> None:
        await service.remove_contact(tx, commerce_id, user_id, contact_id)
