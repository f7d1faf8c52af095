"""The service catalogue (任务五: 5 categories, 20 services) and each district's own standards.

The city keeps the catalogue; 任务五 leaves the standards to districts (各区市结合实际制定本辖区
社会力量参与服务类救助服务标准): a district may not offer a service at all, and may give one its own
standards text and points per hour (``DistrictService``). Wherever a service is chosen for a
household — a need, a task, a pairing's task, the services the mini-program lists for a station —
and wherever its points are worked out, the district's standard applies over the city's.
"""

from __future__ import annotations

import time

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from config.data import SERVICE_CATALOGUE
from models import DistrictService, Pairing, Service, ServiceCategory, Station
from server.errors import Conflict, NotFound, ValidationFailed


class ServiceCodeTaken(Conflict):
    code = "SERVICE_CODE_TAKEN"
    message = "服务编码已存在"


class UnknownService(ValidationFailed):
    code = "UNKNOWN_SERVICE"
    message = "服务项目不存在或已停用"


# The minimum of a service an administrator adds without one (models.Service's default too):
# short errands take about this long (config/service_catalogue.json), and a service whose default
# duration is shorter gets that instead.
DEFAULT_MIN_MINUTES = 15


def check_minimum(*, default_minutes: int, min_minutes: int) -> None:
    """A service's minimum (a shorter service is confirmed only with a reason) is within its
    default duration: a minimum above it would flag a service that took as long as planned."""
    if min_minutes > default_minutes:
        raise ValidationFailed("最低服务时长不能超过默认服务时长",
                               details=[{"field": "min_minutes", "type": "above_default_minutes",
                                         "max": default_minutes}])


async def sync_defaults() -> int:
    """Add default categories and services missing from the database; never overwrite edits.

    Runs at every start in every worker. Concurrent starts may both try to insert; the loser's
    IntegrityError means the rows are there, which is all this wants.
    """
    forget_skill_codes()
    version = SERVICE_CATALOGUE["version"]
    have_cats = set(await ServiceCategory.all().values_list("code", flat=True))
    have_svcs = set(await Service.all().values_list("code", flat=True))
    cats = [
        ServiceCategory(code=c["code"], name=c["name"], sort=i)
        for i, c in enumerate(SERVICE_CATALOGUE["categories"])
        if c["code"] not in have_cats
    ]
    svcs = [
        Service(category_id=c["code"], catalogue_version=version, **s)
        for c in SERVICE_CATALOGUE["categories"]
        for s in c["services"]
        if s["code"] not in have_svcs
    ]
    try:
        async with in_transaction():
            if cats:
                await ServiceCategory.bulk_create(cats)
            if svcs:
                await Service.bulk_create(svcs)
    except IntegrityError:
        return 0
    return len(svcs)


_SERVICES: tuple[float, frozenset[str], dict[str, str]] | None = None
SKILL_CODES_TTL_S = 30.0


async def _services() -> tuple[float, frozenset[str], dict[str, str]]:
    """(read at, codes needing a skill, name by code), read at most every 30 s per process
    (browsing asks on every request; an admin's change shows within the TTL, at once here)."""
    global _SERVICES
    now = time.monotonic()
    if _SERVICES is None or now - _SERVICES[0] > SKILL_CODES_TTL_S:
        rows = await Service.all().values_list("code", "name", "requires_skill")
        _SERVICES = (now, frozenset(code for code, _, skill in rows if skill), {code: name for code, name, _ in rows})
    return _SERVICES


async def skill_codes() -> frozenset[str]:
    """Codes of services that need a registered skill."""
    return (await _services())[1]


async def service_names() -> dict[str, str]:
    """Every service's name by code."""
    return (await _services())[2]


def forget_skill_codes() -> None:
    global _SERVICES
    _SERVICES = None


async def list_services(*, include_retired: bool = False) -> list[Service]:
    qs = Service.all().select_related("category").order_by("category__sort", "code")
    if not include_retired:
        qs = qs.filter(status="active")
    return await qs


async def get_service(*, code: str) -> Service:
    # A code longer than any code can be names nothing (the ORM would refuse to even look it up).
    if len(code) > Service._meta.fields_map["code"].max_length:
        raise NotFound("服务项目不存在")
    service = await Service.get_or_none(code=code).select_related("category")
    if service is None:
        raise NotFound("服务项目不存在")
    return service


async def require_active(*, code: str, field: str = "service_code") -> Service:
    """The service for a new need or task; retired or unknown codes are a payload error."""
    service = await Service.get_or_none(code=code, status="active")
    if service is None:
        raise UnknownService(details=[{"field": field, "type": "unknown_service"}])
    return service


class NotOffered(ValidationFailed):
    code = "SERVICE_NOT_OFFERED"
    message = "本区市未开展该服务项目"


async def require_offered(*, code: str, station_id: int, field: str = "service_code") -> Service:
    """The service for a new need or task at ``station_id``: active in the city's catalogue and
    offered by the station's district."""
    service = await require_active(code=code, field=field)
    standard = await DistrictService.get_or_none(service_id=code, district_id__in=Subquery(
        Station.filter(id=station_id).values("district_id")))
    if standard is not None and not standard.offered:
        raise NotOffered(details=[{"field": field, "type": "not_offered"}])
    return service


async def standards_of(*, district_id: int) -> dict[str, DistrictService]:
    """A district's own standards, by service code (a service without one is the city's as it is)."""
    return {s.service_id: s for s in await DistrictService.filter(district_id=district_id)}


async def standard_at(*, code: str, station_id: int) -> DistrictService | None:
    """The standard of the district ``station_id`` lies in for one service, if it set one."""
    return await DistrictService.get_or_none(service_id=code, district_id__in=Subquery(
        Station.filter(id=station_id).values("district_id")))


def points_per_hour(service: Service, standard: DistrictService | None) -> int:
    """The catalogue's points per hour, or the district's own."""
    if standard is not None and standard.points_per_hour is not None:
        return standard.points_per_hour
    return service.points_per_hour


async def services_for(*, district_id: int) -> list[tuple[Service, DistrictService | None]]:
    """The active services with the district's standard of each (offered or not)."""
    standards = await standards_of(district_id=district_id)
    return [(s, standards.get(s.code)) for s in await list_services()]


async def offered_services(*, station_id: int) -> list[Service]:
    """The active services the station's district offers (a console form's choices)."""
    found = await Station.filter(id=station_id).limit(1).values_list("district_id", flat=True)
    district_id = found[0] if found else None
    standards = await standards_of(district_id=district_id) if district_id is not None else {}
    return [s for s in await list_services() if (standards.get(s.code) is None or standards[s.code].offered)]


class StandardInUse(Conflict):
    code = "SERVICE_IN_USE"
    message = "本区市仍有该服务的进行中结对帮扶,请先结束相关结对再停止开展"


async def set_standard(*, district_id: int, code: str, offered: bool, description: str | None,
                       points_per_hour: int | None, actor_id: int, now) -> DistrictService | None:
    """Set a district's standard for one service: whether it offers it, its own standards text and
    points per hour (None: the city's). Offered with nothing of its own removes the standard. A
    service that active pairings of the district still use is not switched off (their recurring
    tasks could no longer be made), as the city does not retire one."""
    service = await Service.select_for_update().get_or_none(code=code, status="active")
    if service is None:
        raise NotFound("服务项目不存在")
    if not offered:
        in_use = await Pairing.filter(service_id=code, status="active", station_id__in=Subquery(
            Station.filter(district_id=district_id).values("id"))).order_by("id").limit(50).values_list("id", flat=True)
        if in_use:
            raise StandardInUse(details={"pairing_ids": list(in_use)})
    existing = await DistrictService.select_for_update().get_or_none(district_id=district_id, service_id=code)
    if offered and description is None and points_per_hour is None:
        if existing is not None:
            await existing.delete()
        return None
    values = {"offered": offered, "description": description, "points_per_hour": points_per_hour,
              "updated_by": actor_id, "updated_at": now}
    if existing is None:
        try:
            return await DistrictService.create(district_id=district_id, service_id=code, **values)
        except IntegrityError:
            raise Conflict("该服务的区市标准正在被修改,请稍后重试") from None
    existing.update_from_dict(values)
    await existing.save()
    return existing


def present_for_district(service: Service, standard: DistrictService | None) -> dict[str, Any]:
    """A service as a district has it: the catalogue's fields with the district's standards text
    and points in place, and the city's own beside them."""
    out = present(service)
    out.update(offered=standard is None or standard.offered, city_description=service.description,
               city_points_per_hour=service.points_per_hour, district_standard=standard is not None)
    if standard is not None and standard.description is not None:
        out["description"] = standard.description
    out["points_per_hour"] = points_per_hour(service, standard)
    return out


async def check_codes(*, codes: list[str], field: str = "skills") -> None:
    """Every code names an active service (volunteer skills)."""
    if not codes:
        return
    known = set(await Service.filter(code__in=codes, status="active").values_list("code", flat=True))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UnknownService(f"未知的服务项目: {', '.join(unknown[:5])}", details=[{"field": field, "type": "unknown_service"}])


async def create_service(*, data: dict[str, Any]) -> Service:
    """Add a service to the catalogue."""
    if not await ServiceCategory.exists(code=data["category_code"]):
        raise ValidationFailed("服务类别不存在", details=[{"field": "category_code", "type": "not_found"}])
    if await Service.exists(code=data["code"]):
        raise ServiceCodeTaken()
    fields = {k: v for k, v in data.items() if k != "category_code"}
    if fields.get("min_minutes") is None:
        fields["min_minutes"] = min(DEFAULT_MIN_MINUTES, fields["default_minutes"])
    check_minimum(default_minutes=fields["default_minutes"], min_minutes=fields["min_minutes"])
    try:
        await Service.create(category_id=data["category_code"], **fields)
    except IntegrityError:
        # Two requests at once both passed the check; the code is the key and lets one in.
        raise ServiceCodeTaken() from None
    forget_skill_codes()
    return await get_service(code=data["code"])


class ServiceInUse(Conflict):
    code = "SERVICE_IN_USE"
    message = "该服务仍有进行中的结对帮扶,请先结束相关结对再停用"


async def update_service(*, code: str, changes: dict[str, Any]) -> Service:
    """Edit or retire (``status='retired'``) a service; old records keep pointing at it. A
    service that active pairings still use is not retired: their recurring tasks could no longer
    be made (机制三's regular service would stop without anyone deciding it should)."""
    if changes.get("status") == "retired":
        # Locked before any plain read (the snapshot starts after it, REPEATABLE READ): a pairing
        # being made now (pairings.create locks the service too) is waited for and then seen.
        await Service.select_for_update().get_or_none(code=code)
    service = await get_service(code=code)
    if changes.get("status") == "retired" and service.status != "retired":
        in_use = await Pairing.filter(service_id=code, status="active").order_by("id").limit(50).values_list("id", flat=True)
        if in_use:
            raise ServiceInUse(details={"pairing_ids": list(in_use)})
    if "category_code" in changes:
        if not await ServiceCategory.exists(code=changes["category_code"]):
            raise ValidationFailed("服务类别不存在", details=[{"field": "category_code", "type": "not_found"}])
        service.category_id = changes.pop("category_code")
    service.update_from_dict(changes)
    check_minimum(default_minutes=service.default_minutes, min_minutes=service.min_minutes)
    await service.save()
    forget_skill_codes()
    return await get_service(code=code)


def present(service: Service) -> dict[str, Any]:
    return {
        "code": service.code,
        "name": service.name,
        "category_code": service.category_id,
        "category_name": service.category.name if hasattr(service.category, "name") else None,
        "description": service.description,
        "default_minutes": service.default_minutes,
        "min_minutes": service.min_minutes,
        "points_per_hour": service.points_per_hour,
        "requires_skill": service.requires_skill,
        "professional": service.professional,
        "checkin_policy": service.checkin_policy,
        "status": service.status,
    }
