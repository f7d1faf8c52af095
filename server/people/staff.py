"""Appointing station workers, organisation staff and district administrators (任务二): by the
city's administrators, or by a district's for its own stations and organisations."""

from __future__ import annotations

from tortoise.expressions import Q
from tortoise.functions import Count

from models import Station, User, UserRole
from server import audit, feed, labels
from server.errors import NotFound
from server.reference import places


async def appoint(*, admin_id: int, user_id: int, role: str, station_id: int | None,
                  organization_id: int | None, district_id: int | None = None) -> UserRole:
    """Give a user the worker, org_staff or district_admin role, or move it to another station,
    organisation or district."""
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
    if district_id is not None:
        await places.get_district(district_id=district_id)
    grant = await UserRole.get_or_none(user_id=user_id, role=role).select_for_update()
    if grant is None:
        grant = await UserRole.create(user_id=user_id, role=role, station_id=station_id,
                                      organization_id=organization_id, district_id=district_id, granted_by=admin_id)
    else:
        grant.station_id = station_id
        grant.organization_id = organization_id
        grant.district_id = district_id
        grant.granted_by = admin_id
        await grant.save()
    await audit.record(actor_id=admin_id, action="role.grant", subject_type="user", subject_id=user_id,
                       detail={"role": role, "station_id": station_id, "organization_id": organization_id,
                               "district_id": district_id})
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


STAFF_ROLES = ("worker", "org_staff", "district_admin")


def _staff(station_id: int | None = None, district_id: int | None = None):
    """Workers, organisation staff and district administrators (or one station's workers); of one
    district: the workers of its stations, the staff of its organisations, its administrators."""
    qs = UserRole.filter(role__in=STAFF_ROLES)
    if station_id is not None:
        qs = qs.filter(station_id=station_id)
    if district_id is not None:
        qs = qs.filter(Q(station__district_id=district_id) | Q(organization__district_id=district_id)
                       | Q(district_id=district_id))
    return qs


async def list_staff(*, district_id: int | None = None) -> list[UserRole]:
    return await _staff(district_id=district_id).order_by("id")


async def staff_by_station(*, station_id: int | None = None, district_id: int | None = None, offset: int,
                           limit: int) -> list[UserRole]:
    """The workers, by station, then the organisation staff and district administrators (or one
    station's workers, or one district's staff), one page of them, with their account, station,
    organisation and district loaded."""
    return await (_staff(station_id, district_id).select_related("user", "station", "organization", "district")
                  .order_by("-role", "station_id", "organization_id", "user_id").offset(offset).limit(limit))


async def count_staff(*, station_id: int | None = None, district_id: int | None = None) -> int:
    """How many staff ``staff_by_station`` pages through."""
    return await _staff(station_id, district_id).count()


async def worker_counts(*, station_ids: list[int]) -> dict[int, int]:
    """How many workers each of ``station_ids`` has (a station without any is absent)."""
    if not station_ids:
        return {}
    rows = await (UserRole.filter(role="worker", station_id__in=station_ids).annotate(n=Count("id"))
                  .group_by("station_id").values_list("station_id", "n"))
    return {station_id: n for station_id, n in rows}


async def supervisors_of(*, district_id: int | None) -> list[int]:
    """Who is told when something goes up to a district (保障四: districts supervise): its own
    administrators, or, while it has none (or for what belongs to no district), the city's."""
    if district_id is not None:
        own = await UserRole.filter(role="district_admin", district_id=district_id).values_list("user_id", flat=True)
        if own:
            return list(own)
    return list(await UserRole.filter(role="admin").values_list("user_id", flat=True))


async def labels_of(user_ids: set[int]) -> dict[int, str]:
    """Who did something, as a ledger or the audit trail names a member of staff (an account has
    no name): the role, the station of a worker, the masked phone when the account has one, and
    the account's number (by which the audit trail is filtered)."""
    roles: dict[int, dict[str, int | None]] = {}
    for user_id, role, station_id in await UserRole.filter(user_id__in=user_ids or {0}) \
            .values_list("user_id", "role", "station_id"):
        roles.setdefault(user_id, {})[role] = station_id
    stations = dict(await Station.filter(id__in={sid for held in roles.values() for sid in held.values() if sid}
                                                or {0}).values_list("id", "name"))
    phones = dict(await User.filter(id__in=user_ids or {0}).values_list("id", "phone_masked"))
    out = {}
    for user_id in user_ids:
        held = roles.get(user_id, {})
        role = next((r for r in ("worker", "district_admin", "admin") if r in held), None)
        parts = [labels.ROLE[role] if role else "工作人员"]
        if role == "worker" and stations.get(held["worker"]):
            parts.append(stations[held["worker"]])
        if phones.get(user_id):
            parts.append(phones[user_id])
        parts.append(f"编号 {user_id}")
        out[user_id] = " · ".join(parts)
    return out
