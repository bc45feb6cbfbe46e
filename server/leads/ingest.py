"""Creating leads from the API (one, a JSON batch, or CSV) and assigning them in the same
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.errors import BadRequest
from server.leads.csvimport import CsvError
from server.leads.models import Lead
from server.leads.schemas import LeadIn
from server.leads.service import LeadOutcome, assign_leads
from server.org.models import Region

__all__ = ["NewLead", "create_leads"]


@dataclass(frozen=True, slots=True)
class NewLead:
    lead: LeadIn
    line: int | None = None
    """The CSV line, or None for JSON (then errors name the batch index)."""


def _where(item: NewLead, index: int, name: str, batch: bool) -> str:
    if item.line is not None:
        return name
    return f"[{index}].{name}" if batch else name


async def create_leads(
    session: AsyncSession,
    principal: Principal,
    items: Sequence[NewLead],
    *,
    batch: bool,
    now: datetime,
) -> tuple[list[tuple[int | None, LeadOutcome]], list[CsvError]]:
    """Validate what the schema cannot (regions, coordinate pairs), write the good leads through
    the ORM and assign them. JSON input is all-or-nothing (the 400 names ``[i].field``); CSV rows
    that fail are reported by line and the rest are imported."""
    regions = {
        code: rid for rid, code in (await session.execute(select(Region.id, Region.code))).all()
    }
    region_ids = set(regions.values())
    source = "import" if principal.api_key_id else "api"
    errors: list[CsvError] = []
    created: list[tuple[int | None, Lead]] = []
    for index, item in enumerate(items):
        lead_in = item.lead
        problem: tuple[str, str] | None = None
        region_id = lead_in.region_id
        if lead_in.region_code is not None:
            region_id = regions.get(lead_in.region_code)
            if region_id is None:
                problem = ("region_code", f"unknown region code {lead_in.region_code!r}")
        elif region_id is not None and region_id not in region_ids:
            problem = ("region_id", f"unknown region {region_id}")
        if problem is None and principal.role is Role.MANAGER:
            if region_id is None:
                region_id = principal.region_id
            elif region_id != principal.region_id:
                problem = ("region_id", "a manager may only add leads to their own region")
        if problem is None and (lead_in.lat is None) != (lead_in.lon is None):
            problem = ("lat" if lead_in.lat is None else "lon", "give both lat and lon, or neither")
        if problem is not None:
            if item.line is None:
                raise BadRequest(problem[1], field=_where(item, index, problem[0], batch))
            errors.append(CsvError(item.line, problem[0], problem[1]))
            continue
        lead = Lead(
            company=lead_in.company.strip(),
            contact_name=lead_in.contact_name,
            email=lead_in.email,
            phone=lead_in.phone,
            address_line=lead_in.address_line,
            city=lead_in.city,
            postal_code=lead_in.postal_code,
            country=lead_in.country.upper() if lead_in.country else None,
            lat=lead_in.lat,
            lon=lead_in.lon,
            notes=lead_in.notes,
            source=source,
            product_line=lead_in.product_line,
            language=lead_in.language.lower() if lead_in.language else None,
            region_id=region_id,
            status="new",
            captured_by_id=principal.user_id,
        )
        session.add(lead)
        created.append((item.line, lead))
    await session.flush()
    outcomes = await assign_leads(session, [lead.id for _, lead in created], now=now)
    return [(line, outcome) for (line, _), outcome in zip(created, outcomes, strict=True)], errors
