from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.reference.schemas import StationOut
from server.http import respond
from server.reference import places

bp = Blueprint("stations", url_prefix="/api/v1/stations")


def present_station(s) -> dict:
    return {
        "id": s.id, "district_id": s.district_id, "district_name": s.district.name if s.district else None,
        "name": s.name, "town": s.town, "address": s.address, "phone": s.phone, "lat": s.lat, "lng": s.lng,
    }


@bp.get("")
@openapi.summary("All referral stations (public)")
@openapi.response(200, {"application/json": list[StationOut]})
async def list_stations(request: Request):
    return respond([present_station(s) for s in await places.list_stations()])
