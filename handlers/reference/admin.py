from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Ok
from handlers.reference.schemas import (
    DistrictIn, DistrictOut, DistrictPatch, OrganizationIn, OrganizationOut, ServiceIn, ServiceOut, ServicePatch,
    StaffIn, StaffOut, StaffRemoveIn, StationIn, StationOut, StationPatch,
)
from handlers.reference.stations import present_station
from server.actors import Actor
from server.auth import authenticate
from server.http import body, respond, returns
from server.people import staff
from server.reference import catalogue, places
from server.transactions import atomic

bp = Blueprint("admin", url_prefix="/api/v1/admin")


async def _admin(request: Request) -> Actor:
    actor = await authenticate(request)
    actor.require("admin")
    return actor


def _district(d) -> dict:
    return {"id": d.id, "code": d.code, "name": d.name}


def _org(o) -> dict:
    return {"id": o.id, "name": o.name, "kind": o.kind, "district_id": o.district_id}


def _grant(g) -> dict:
    return {"user_id": g.user_id, "role": g.role, "station_id": g.station_id, "organization_id": g.organization_id}


@bp.get("/districts")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[DistrictOut]})
async def list_districts(request: Request):
    await _admin(request)
    return respond([_district(d) for d in await places.list_districts()])


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


@bp.get("/stations")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[StationOut]})
async def list_stations(request: Request):
    await _admin(request)
    return respond([present_station(s) for s in await places.list_stations()])


@bp.post("/stations")
@openapi.secured("token")
@body(StationIn)
@returns(StationOut, status=201)
async def create_station(request: Request):
    await _admin(request)
    async with atomic():
        station = await places.create_station(**request.ctx.body.model_dump())
    return respond(present_station(station), status=201)


@bp.patch("/stations/<station_id:int>")
@openapi.secured("token")
@body(StationPatch)
@returns(StationOut)
async def update_station(request: Request, station_id: int):
    await _admin(request)
    async with atomic():
        station = await places.update_station(
            station_id=station_id, changes=request.ctx.body.model_dump(exclude_unset=True)
        )
    return respond(present_station(station))


@bp.delete("/stations/<station_id:int>")
@openapi.secured("token")
@returns(Ok)
async def delete_station(request: Request, station_id: int):
    await _admin(request)
    async with atomic():
        await places.delete_station(station_id=station_id)
    return respond({"ok": True})


@bp.get("/organizations")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[OrganizationOut]})
async def list_organizations(request: Request):
    await _admin(request)
    return respond([_org(o) for o in await places.list_organizations()])


@bp.post("/organizations")
@openapi.secured("token")
@body(OrganizationIn)
@returns(OrganizationOut, status=201)
async def create_organization(request: Request):
    await _admin(request)
    async with atomic():
        org = await places.create_organization(**request.ctx.body.model_dump())
    return respond(_org(org), status=201)


@bp.get("/staff")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[StaffOut]})
async def list_staff(request: Request):
    await _admin(request)
    return respond([_grant(g) for g in await staff.list_staff()])


@bp.post("/staff")
@openapi.summary("Appoint a station worker or organisation staff member")
@openapi.secured("token")
@body(StaffIn)
@returns(StaffOut)
async def appoint_staff(request: Request):
    actor = await _admin(request)
    async with atomic():
        grant = await staff.appoint(admin_id=actor.id, **request.ctx.body.model_dump())
    return respond(_grant(grant))


@bp.delete("/staff")
@openapi.summary("Remove a worker or org_staff role")
@openapi.secured("token")
@body(StaffRemoveIn)
@returns(Ok)
async def remove_staff(request: Request):
    actor = await _admin(request)
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
