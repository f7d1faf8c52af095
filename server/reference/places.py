"""Districts, referral stations and provider organisations (任务二, 机制二)."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count

from models import Assessment, District, Need, Organization, ResidentProfile, Station, Task, UserRole, VolunteerProfile
from server.errors import Conflict, NotFound


class DistrictCodeTaken(Conflict):
    code = "DISTRICT_CODE_TAKEN"
    message = "区市编码已存在"


class StationNameTaken(Conflict):
    code = "STATION_NAME_TAKEN"
    message = "该区市下已有同名驿站"


class PlaceInUse(Conflict):
    code = "PLACE_IN_USE"
    message = "仍有关联数据,无法删除"


class OrganizationNameTaken(Conflict):
    code = "ORGANIZATION_NAME_TAKEN"
    message = "机构名称已存在"


async def list_districts() -> list[District]:
    """All districts, by code."""
    return await District.all().order_by("code")


async def create_district(*, code: str, name: str) -> District:
    """Create a district; codes are unique."""
    if await District.exists(code=code):
        raise DistrictCodeTaken()
    try:
        return await District.create(code=code, name=name)
    except IntegrityError:
        # The same district created twice at once: the unique code let the other one in.
        raise DistrictCodeTaken() from None


async def get_district(*, district_id: int) -> District:
    district = await District.get_or_none(id=district_id)
    if district is None:
        raise NotFound("区市不存在")
    return district


async def update_district(*, district_id: int, changes: dict[str, Any]) -> District:
    """Rename a district."""
    district = await get_district(district_id=district_id)
    district.update_from_dict(changes)
    await district.save()
    return district


async def delete_district(*, district_id: int) -> None:
    """Delete a district that no station or organisation points at."""
    district = await get_district(district_id=district_id)
    if await Station.exists(district_id=district.id) or await Organization.exists(district_id=district.id):
        raise PlaceInUse()
    await district.delete()


async def list_stations(*, district_id: int | None = None, offset: int = 0, limit: int | None = None) -> list[Station]:
    """Stations, optionally of one district and one page of them, with their district loaded."""
    qs = Station.all().select_related("district").order_by("district_id", "id")
    if district_id is not None:
        qs = qs.filter(district_id=district_id)
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    return await qs


async def count_stations(*, district_id: int | None = None) -> int:
    """How many stations there are, or how many one district has."""
    qs = Station.all()
    if district_id is not None:
        qs = qs.filter(district_id=district_id)
    return await qs.count()


async def stations_per_district() -> dict[int, int]:
    """How many stations each district has, by district id (a district without any is absent)."""
    rows = await Station.all().annotate(n=Count("id")).group_by("district_id").values_list("district_id", "n")
    return {district_id: n for district_id, n in rows}


async def district_of(*, station_id: int) -> int | None:
    """The district ``station_id`` lies in (None: no such station)."""
    found = await Station.filter(id=station_id).limit(1).values_list("district_id", flat=True)
    return found[0] if found else None


async def station_ids(*, district_id: int) -> list[int]:
    """The stations of one district."""
    return list(await Station.filter(district_id=district_id).order_by("id").values_list("id", flat=True))


async def get_station(*, station_id: int) -> Station:
    station = await Station.get_or_none(id=station_id).select_related("district")
    if station is None:
        raise NotFound("驿站不存在")
    return station


async def create_station(*, district_id: int, **fields: Any) -> Station:
    """Create a station in an existing district."""
    await get_district(district_id=district_id)
    if await Station.exists(district_id=district_id, name=fields["name"]):
        raise StationNameTaken()
    try:
        station = await Station.create(district_id=district_id, **fields)
    except IntegrityError:
        # Created twice at once (a double-tapped save): the unique (district, name) let one in.
        raise StationNameTaken() from None
    return await get_station(station_id=station.id)


async def update_station(*, station_id: int, changes: dict[str, Any]) -> Station:
    """Change a station's name, address, phone or coordinates."""
    station = await get_station(station_id=station_id)
    if "name" in changes and changes["name"] != station.name:
        if await Station.exists(district_id=station.district_id, name=changes["name"]):
            raise StationNameTaken()
    station.update_from_dict(changes)
    try:
        await station.save()
    except IntegrityError:
        raise StationNameTaken() from None
    return station


async def delete_station(*, station_id: int) -> None:
    """Delete a station nobody is bound to and no record is kept under."""
    station = await get_station(station_id=station_id)
    # A household that moved to another station leaves its needs, tasks and assessments here.
    in_use = (
        await UserRole.exists(station_id=station.id)
        or await ResidentProfile.exists(station_id=station.id)
        or await VolunteerProfile.exists(station_id=station.id)
        or await Need.exists(station_id=station.id)
        or await Task.exists(station_id=station.id)
        or await Assessment.exists(station_id=station.id)
    )
    if in_use:
        raise PlaceInUse()
    await station.delete()


async def list_organizations(*, district_id: int | None = None) -> list[Organization]:
    """Every organisation, or those of one district together with the city-wide ones."""
    qs = Organization.all()
    if district_id is not None:
        qs = qs.filter(Q(district_id=district_id) | Q(district_id=None))
    return await qs.order_by("id")


async def create_organization(*, name: str, kind: str, district_id: int | None) -> Organization:
    """Register a provider organisation (承接主体)."""
    if district_id is not None:
        await get_district(district_id=district_id)
    try:
        return await Organization.create(name=name, kind=kind, district_id=district_id)
    except IntegrityError:
        raise OrganizationNameTaken() from None


async def get_organization(*, organization_id: int) -> Organization:
    org = await Organization.get_or_none(id=organization_id)
    if org is None:
        raise NotFound("机构不存在")
    return org
