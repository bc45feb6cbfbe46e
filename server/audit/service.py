"""Writing to the audit log: security events and manual decisions, with who, what and where."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from server.auth.principal import Principal

__all__ = ["record"]

logger = logging.getLogger("fieldline.audit")


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Principal | None = None,
    actor_user_id: str | None = None,
    device_id: str | None = None,
    ip: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    region_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (it commits or rolls back with the change
    it describes). ``details`` must never hold a secret: no passwords, tokens or keys."""
    entry = AuditEntry(
        action=action,
        actor_user_id=actor.user_id if actor else actor_user_id,
        actor_api_key_id=actor.api_key_id if actor else None,
        device_id=(actor.device_id if actor else None) or device_id,
        ip=ip,
        target_type=target_type,
        target_id=target_id,
        region_id=region_id,
        details=details or {},
    )
    session.add(entry)
    logger.info("audit %s", action, extra={"fields": {"action": action, "target": target_id}})
    return entry
