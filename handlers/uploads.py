from sanic import Blueprint, Request
from sanic_ext import openapi
from tortoise.transactions import in_transaction

from handlers.schemas import UploadOut
from server import ratelimit
from server.auth import authenticate
from server.http import respond, returns
from server.services import uploads

bp = Blueprint("uploads", url_prefix="/api/v1/uploads")


@bp.post("")
@openapi.summary("Upload a photo for a service record (multipart field 'file', or a raw image body)")
@openapi.secured("token")
@openapi.body({"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}})
@returns(UploadOut, status=201)
async def upload(request: Request):
    actor = await authenticate(request)
    await ratelimit.hit(request, "upload", user_id=actor.id)
    file = request.files.get("file") if request.files else None
    data = file.body if file is not None else (request.body or b"")
    ctx = request.app.ctx
    async with in_transaction():
        row = await uploads.store(owner_id=actor.id, data=data, storage=ctx.storage,
                                  max_bytes=ctx.settings.upload_max_bytes)
    return respond({"id": row.id, "content_type": row.content_type, "size": row.size}, status=201)
