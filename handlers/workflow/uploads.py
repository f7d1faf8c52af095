from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.workflow.schemas import UploadOut
from server import ratelimit
from server.access import access_upload
from server.auth import authenticate
from server.errors import NotFound
from server.http import respond, returns
from server.transactions import atomic
from server.workflow import uploads

bp = Blueprint("uploads", url_prefix="/api/v1/uploads")


@bp.post("")
@openapi.summary("Upload a photo for a service record (multipart field 'file', or a raw image body)")
@openapi.secured("token")
@openapi.body({"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}})
@returns(UploadOut, status=201)
async def upload(request: Request):
    actor = await authenticate(request)
    await ratelimit.hit(request, "upload", user_id=actor.id)
    # A day's cap as well: at the per-minute rate alone one account could store ~120 GB a day.
    await ratelimit.hit(request, "upload_day", user_id=actor.id)
    file = request.files.get("file") if request.files else None
    data = file.body if file is not None else (request.body or b"")
    ctx = request.app.ctx
    async with atomic():
        row = await uploads.store(owner_id=actor.id, data=data, storage=ctx.storage,
                                  max_bytes=ctx.settings.upload_max_bytes)
    return respond({"id": row.id, "content_type": row.content_type, "size": row.size}, status=201)


@bp.get("/<upload_id:int>")
@openapi.summary("A photo: its uploader's, a service record's at the worker's station, or any for admins")
@openapi.secured("token")
@openapi.response(200, {"image/jpeg": {"type": "string", "format": "binary"},
                        "image/png": {"type": "string", "format": "binary"},
                        "image/webp": {"type": "string", "format": "binary"}})
async def get_upload(request: Request, upload_id: int):
    actor = await authenticate(request)
    row = await access_upload(actor, upload_id)
    try:
        data = await request.app.ctx.storage.get(row.storage_key)
    except FileNotFoundError:
        raise NotFound("图片不存在") from None
    # A photo of someone's home: kept by no cache on the way or on a shared phone.
    return raw(data, content_type=row.content_type,
               headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
