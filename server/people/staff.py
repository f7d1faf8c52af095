"""Appointing station workers and organisation staff (admin only, 任务二)."""

from __future__ import annotations

from models import User, UserRole
from server import audit, feed
from server.errors import NotFound
from server.reference import places


async def appoint(*, admin_id: int, user_id: int, role: str, station_id: int | None,
                  organization_id: int | None) -> UserRole:
    """Give a user the worker or org_staff role, or move it to another station/organisation."""
    # The account row first, by its key: appointments of one person (a double tap, two admins)
    # queue on it. Locking the role row alone locks a gap while none exists yet, and two such
    # gap locks deadlock on the inserts.
    user = await User.select_for_update().get_or_none(id=user_id, status="active")
    if user is None:
        raise NotFound("用户不存在")
    if station_id is not None:
        await places.get_station(station_id=station_id)
    if organization_id is not None:
        await places.get_organization(organization_id=organization_id)
    grant = await UserRole.get_or_none(user_id=user_id, role=role).select_for_update()
    if grant is None:
        grant = await UserRole.create(user_id=user_id, role=role, station_id=station_id,
                                      organization_id=organization_id, granted_by=admin_id)
    else:
        grant.station_id = station_id
        grant.organization_id = organization_id
        grant.granted_by = admin_id
        await grant.save()
    await audit.record(actor_id=admin_id, action="role.grant", subject_type="user", subject_id=user_id,
                       detail={"role": role, "station_id": station_id, "organization_id": organization_id})
    feed.changed("user", user_id)
    return grant


async def remove(*, admin_id: int, user_id: int, role: str) -> None:
    """Take the role away; it stops working on the user's next request."""
    deleted = await UserRole.filter(user_id=user_id, role=role).delete()
    if not deleted:
        raise NotFound("该用户没有此角色")
    await audit.record(actor_id=admin_id, action="role.revoke", subject_type="user", subject_id=user_id,
                       detail={"role": role})
    feed.changed("user", user_id)


async def list_staff() -> list[UserRole]:
    return await UserRole.filter(role__in=("worker", "org_staff")).order_by("id")
