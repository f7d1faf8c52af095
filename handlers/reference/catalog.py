from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.reference.schemas import CatalogQuery, ServiceOut
from server.http import query, respond
from server.errors import NotFound
from server.reference import catalogue, places

bp = Blueprint("catalog", url_prefix="/api/v1/catalog")


@bp.get("/services")
@openapi.summary("The service catalogue (public); retired services on request; a station's services as its district offers them")
@query(CatalogQuery)
@openapi.response(200, {"application/json": list[ServiceOut]})
async def list_services(request: Request):
    q = request.ctx.query
    if q.station_id is not None:
        district_id = await places.district_of(station_id=q.station_id)
        if district_id is None:
            raise NotFound("驿站不存在")
        return respond([catalogue.present_for_district(s, standard)
                        for s, standard in await catalogue.services_for(district_id=district_id)
                        if standard is None or standard.offered])
    services = await catalogue.list_services(include_retired=q.include_retired)
    return respond([catalogue.present(s) for s in services])
