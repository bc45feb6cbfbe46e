"""``/api/v1/privacy``: export and erasure of a data subject (admins only), and the consent
histories of contacts and leads (as the contact or lead itself is reached)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.errors import BadRequest, UnprocessableEntity
from server.privacy import consent, service
from server.privacy.schemas import ConsentCreate, ConsentOut, ConsentState, ErasureOut, ExportOut
from server.rest import IdParam, ResourceController, allows, strict_body

__all__ = ["ConsentController", "PrivacyController"]

KindParam = Annotated[
    str, Parameter(description="the data subject's kind: " + ", ".join(service.KINDS))
]


class PrivacyController(ResourceController):
    path = "/privacy/subjects"
    tags = ("privacy",)
    guards = (allows(),)  # admins only

    @get("/{kind:str}/{subject_id:str}/export", summary="Every personal value about a subject")
    async def export_subject(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        kind: KindParam,
        subject_id: IdParam,
    ) -> ExportOut:
        return await service.export(db, principal_of(request), kind, subject_id)

    @post(
        "/{kind:str}/{subject_id:str}/erasure",
        status_code=200,
        summary="Erase a subject's personal data (idempotent)",
    )
    async def erase_subject(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        kind: KindParam,
        subject_id: IdParam,
    ) -> ErasureOut:
        return await service.erase(db, principal_of(request), kind, subject_id)


async def _consent_body(request: Request[Any, Any, Any]) -> None:
    """A consent body that breaks a rule is well-formed JSON with a wrong value: 422, naming
    the field."""
    try:
        await strict_body(request)
    except BadRequest as exc:
        raise UnprocessableEntity(exc.detail, field=exc.field) from None


class ConsentController(ResourceController):
    path = "/"
    tags = ("privacy",)
    guards = (allows(Role.REP, Role.MANAGER),)
    before_request = staticmethod(_consent_body)

    @get("/contacts/{contact_id:str}/consents", summary="A contact's consent, in force and history")
    async def contact_consent(
        self, request: Request[Any, Any, Any], db: AsyncSession, contact_id: IdParam
    ) -> ConsentState:
        return await consent.consent_state(db, principal_of(request), "contact", contact_id)

    @post("/contacts/{contact_id:str}/consents", summary="Record a contact's consent decision")
    async def record_contact_consent(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        contact_id: IdParam,
        data: ConsentCreate,
    ) -> ConsentOut:
        return await consent.record_consent(db, principal_of(request), "contact", contact_id, data)

    @get("/leads/{lead_id:str}/consents", summary="A lead's consent, in force and history")
    async def lead_consent(
        self, request: Request[Any, Any, Any], db: AsyncSession, lead_id: IdParam
    ) -> ConsentState:
        return await consent.consent_state(db, principal_of(request), "lead", lead_id)

    @post("/leads/{lead_id:str}/consents", summary="Record a lead's consent decision")
    async def record_lead_consent(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        lead_id: IdParam,
        data: ConsentCreate,
    ) -> ConsentOut:
        return await consent.record_consent(db, principal_of(request), "lead", lead_id, data)
