from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.reference.schemas import CatalogQuery, ServiceOut
from server.http import query, respond
from server.reference import catalogue

bp = Blueprint("catalog", url_prefix="/api/v1/catalog")


@bp.get("/services")
@openapi.summary("The service catalogue (public); retired services on request")
@query(CatalogQuery)
@openapi.response(200, {"application/json": list[ServiceOut]})
async def list_services(request: Request):
    services = await catalogue.list_services(include_retired=request.ctx.query.include_retired)
    return respond([catalogue.present(s) for s in services])
