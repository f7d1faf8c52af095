from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Ok
from handlers.reference.schemas import (
    DistrictIn, DistrictOut, DistrictPatch, DistrictServiceIn, DistrictServiceOut, OrganizationIn, OrganizationOut, ServiceIn, ServiceOut, ServicePatch,
    StaffIn, StaffOut, StaffRemoveIn, StationIn, StationOut, StationPatch,
)
from handlers.reference.stations import present_station
from server.access import (
    access_district, access_staff_grant, access_station_admin, check_staff_binding, oversees_district, own_district,
    require_admin,
)
from server.actors import Actor
from server.auth import authenticate
from server.http import body, respond, returns
from server.people import staff
from server.reference import catalogue, places
from server.transactions import atomic

bp = Blueprint("admin", url_prefix="/api/v1/admin")


async def _admin(request: Request) -> Actor:
    """A city administrator: districts and the catalogue itself are the city's."""
    actor = await authenticate(request)
    actor.require("admin")
    return actor


async def _any_admin(request: Request) -> Actor:
    """A city or district administrator (server/access.py: a district's sees only its own)."""
    actor = await authenticate(request)
    require_admin(actor)
    return actor


def _district(d) -> dict:
    return {"id": d.id, "code": d.code, "name": d.name}


def _org(o) -> dict:
    return {"id": o.id, "name": o.name, "kind": o.kind, "district_id": o.district_id}


def _grant(g) -> dict:
    return {"user_id": g.user_id, "role": g.role, "station_id": g.station_id, "organization_id": g.organization_id,
            "district_id": g.district_id}


@bp.get("/districts")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[DistrictOut]})
async def list_districts(request: Request):
    actor = await _any_admin(request)
    districts = await places.list_districts()
    return respond([_district(d) for d in districts if oversees_district(actor, d.id)])


@bp.post("/districts")
@openapi.secured("token")
@body(DistrictIn)
@returns(DistrictOut, status=201)
async def create_district(request: Request):
    await _admin(request)
    async with atomic():
        district = await places.create_district(**request.ctx.body.model_dump())
    return respond(_district(district), status=201)


@bp.patch("/districts/<district_id:int>")
@openapi.secured("token")
@body(DistrictPatch)
@returns(DistrictOut)
async def update_district(request: Request, district_id: int):
    await _admin(request)
    async with atomic():
        district = await places.update_district(
            district_id=district_id, changes=request.ctx.body.model_dump(exclude_unset=True)
        )
    return respond(_district(district))


@bp.delete("/districts/<district_id:int>")
@openapi.secured("token")
@returns(Ok)
async def delete_district(request: Request, district_id: int):
    await _admin(request)
    async with atomic():
        await places.delete_district(district_id=district_id)
    return respond({"ok": True})


@bp.get("/districts/<district_id:int>/services")
@openapi.summary("The catalogue as a district has it: which services it offers, its own standards text and points")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[DistrictServiceOut]})
async def district_services(request: Request, district_id: int):
    await access_district(await _any_admin(request), district_id)
    return respond([catalogue.present_for_district(service, standard)
                    for service, standard in await catalogue.services_for(district_id=district_id)])


@bp.put("/districts/<district_id:int>/services/<code:str>")
@openapi.summary("Set a district's standard for one service (任务五: districts set their own standards)")
@openapi.secured("token")
@body(DistrictServiceIn)
@returns(DistrictServiceOut)
async def set_district_service(request: Request, district_id: int, code: str):
    actor = await _any_admin(request)
    await access_district(actor, district_id)
    async with atomic():
        standard = await catalogue.set_standard(district_id=district_id, code=code, actor_id=actor.id,
                                                now=request.app.ctx.clock(), **request.ctx.body.model_dump())
    return respond(catalogue.present_for_district(await catalogue.get_service(code=code), standard))


@bp.get("/stations")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[StationOut]})
async def list_stations(request: Request):
    actor = await _any_admin(request)
    return respond([present_station(s) for s in await places.list_stations(district_id=require_admin(actor))])


@bp.post("/stations")
@openapi.secured("token")
@body(StationIn)
@returns(StationOut, status=201)
async def create_station(request: Request):
    actor = await _any_admin(request)
    await access_district(actor, request.ctx.body.district_id)
    async with atomic():
        station = await places.create_station(**request.ctx.body.model_dump())
    return respond(present_station(station), status=201)


@bp.patch("/stations/<station_id:int>")
@openapi.secured("token")
@body(StationPatch)
@returns(StationOut)
async def update_station(request: Request, station_id: int):
    await access_station_admin(await _any_admin(request), station_id)
    async with atomic():
        station = await places.update_station(
            station_id=station_id, changes=request.ctx.body.model_dump(exclude_unset=True)
        )
    return respond(present_station(station))


@bp.delete("/stations/<station_id:int>")
@openapi.secured("token")
@returns(Ok)
async def delete_station(request: Request, station_id: int):
    await access_station_admin(await _any_admin(request), station_id)
    async with atomic():
        await places.delete_station(station_id=station_id)
    return respond({"ok": True})


@bp.get("/organizations")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[OrganizationOut]})
async def list_organizations(request: Request):
    actor = await _any_admin(request)
    return respond([_org(o) for o in await places.list_organizations(district_id=require_admin(actor))])


@bp.post("/organizations")
@openapi.secured("token")
@body(OrganizationIn)
@returns(OrganizationOut, status=201)
async def create_organization(request: Request):
    actor = await _any_admin(request)
    data = request.ctx.body.model_dump()
    # A district registers its own providers; a city-wide one is the city's to register.
    data["district_id"] = await own_district(actor, data["district_id"])
    async with atomic():
        org = await places.create_organization(**data)
    return respond(_org(org), status=201)


@bp.get("/staff")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[StaffOut]})
async def list_staff(request: Request):
    actor = await _any_admin(request)
    return respond([_grant(g) for g in await staff.list_staff(district_id=require_admin(actor))])


@bp.post("/staff")
@openapi.summary("Appoint a station worker or organisation staff member")
@openapi.secured("token")
@body(StaffIn)
@returns(StaffOut)
async def appoint_staff(request: Request):
    actor = await _any_admin(request)
    b = request.ctx.body
    await check_staff_binding(actor, role=b.role, station_id=b.station_id, organization_id=b.organization_id)
    async with atomic():
        grant = await staff.appoint(admin_id=actor.id, **b.model_dump())
    return respond(_grant(grant))


@bp.delete("/staff")
@openapi.summary("Remove a worker or org_staff role")
@openapi.secured("token")
@body(StaffRemoveIn)
@returns(Ok)
async def remove_staff(request: Request):
    actor = await _any_admin(request)
    await access_staff_grant(actor, **request.ctx.body.model_dump())
    async with atomic():
        await staff.remove(admin_id=actor.id, **request.ctx.body.model_dump())
    return respond({"ok": True})


@bp.post("/services")
@openapi.summary("Add a service to the catalogue")
@openapi.secured("token")
@body(ServiceIn)
@returns(ServiceOut, status=201)
async def create_service(request: Request):
    await _admin(request)
    async with atomic():
        service = await catalogue.create_service(data=request.ctx.body.model_dump())
    return respond(catalogue.present(service), status=201)


@bp.patch("/services/<code:str>")
@openapi.summary("Edit a service, or retire it (status=retired); old records keep it")
@openapi.secured("token")
@body(ServicePatch)
@returns(ServiceOut)
async def update_service(request: Request, code: str):
    await _admin(request)
    async with atomic():
        service = await catalogue.update_service(code=code, changes=request.ctx.body.model_dump(exclude_unset=True))
    return respond(catalogue.present(service))
