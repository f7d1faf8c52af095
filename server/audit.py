"""Audit rows: every read of unmasked personal data and every change of roles or accounts."""

from __future__ import annotations

from typing import Any

from models import AuditLog
from server.logs import request_id_var


async def record(
    *,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    fields: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Write one audit row tagged with the current request id."""
    return await AuditLog.create(
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        fields_read=fields or [],
        detail=detail,
        request_id=request_id_var.get(),
    )
