from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Ok
from handlers.people.schemas import (
    MeOut, NearbyIn, PhoneCodeIn, ResidentIn, ResidentOut, UserOut, VolunteerIn, VolunteerOut,
)
from server import ratelimit
from server.auth import authenticate
from server.http import body, respond, returns
from server.lifecycle import closing
from server.people import accounts, residents, volunteers
from server.transactions import atomic
from server.workflow import content

bp = Blueprint("me", url_prefix="/api/v1/me")


@bp.get("")
@openapi.summary("The caller, their roles and profiles (masked)")
@openapi.secured("token")
@returns(MeOut)
async def get_me(request: Request):
    actor = await authenticate(request)
    cipher = request.app.ctx.cipher
    resident = await residents.get_own(user_id=actor.id)
    volunteer = await volunteers.get_own(user_id=actor.id)
    return respond({
        **accounts.present_user(user=actor.user, roles=actor.roles),
        "resident": residents.present(resident, cipher=cipher) if resident else None,
        "volunteer": volunteers.present(volunteer) if volunteer else None,
    })


@bp.post("/phone")
@openapi.summary("Bind a WeChat-verified phone number")
@openapi.secured("token")
@body(PhoneCodeIn)
@returns(UserOut)
async def bind_phone(request: Request):
    actor = await authenticate(request)
    # Each code is a paid call to WeChat's phone-number API.
    await ratelimit.hit(request, "phone_bind", user_id=actor.id)
    ctx = request.app.ctx
    phone = await accounts.fetch_phone(wechat=ctx.wechat, code=request.ctx.body.code)
    async with atomic():
        user = await accounts.bind_phone(user=actor.user, phone=phone, cipher=ctx.cipher)
    return respond(accounts.present_user(user=user, roles=actor.roles))


@bp.put("/resident")
@openapi.summary("Create or replace my household profile")
@openapi.secured("token")
@body(ResidentIn)
@returns(ResidentOut)
async def put_resident(request: Request):
    actor = await authenticate(request)
    # Every save answers alike, whoever holds the number given (residents.upsert_own); the limit
    # keeps saving from being a way to write many profiles.
    await ratelimit.hit(request, "resident_save", user_id=actor.id)
    cipher = request.app.ctx.cipher
    async with atomic():
        resident = await residents.upsert_own(user=actor.user, data=request.ctx.body.model_dump(), cipher=cipher,
                                              now=request.app.ctx.clock())
    return respond({**residents.present(resident, cipher=cipher), "notice": residents.SAVED_NOTICE})


@bp.put("/volunteer")
@openapi.summary("Apply as a volunteer, or edit the application and the display name (昵称) shown on leaderboards")
@openapi.secured("token")
@body(VolunteerIn)
@returns(VolunteerOut)
async def put_volunteer(request: Request):
    actor = await authenticate(request)
    ctx = request.app.ctx
    # Only what was sent: a display name left out stays as it is.
    data = request.ctx.body.model_dump(exclude_unset=True)
    await content.screen_for_everyone(wechat=ctx.wechat, author=actor.user, now=ctx.clock(), field="display_name",
                                      text=volunteers.display_name_to_check(volunteer=actor.volunteer, data=data))
    async with atomic():
        volunteer = await volunteers.upsert_own(user=actor.user, data=data, cipher=ctx.cipher)
    return respond(volunteers.present(volunteer))


@bp.put("/volunteer/nearby")
@openapi.summary("Opt in to alerts about new tasks near a place (or out, with radius_km null)")
@openapi.secured("token")
@body(NearbyIn)
@returns(VolunteerOut)
async def put_nearby(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        volunteer = await volunteers.set_nearby(user_id=actor.id, lat=b.lat, lng=b.lng, radius_km=b.radius_km)
    return respond(volunteers.present(volunteer))


@bp.delete("")
@openapi.summary("Close my account: personal data erased, history kept anonymised")
@openapi.secured("token")
@returns(Ok)
async def close_me(request: Request):
    actor = await authenticate(request)
    async with atomic():
        photos = await closing.close_account(user=actor.user, now=request.app.ctx.clock())
    await closing.delete_photos(photos, storage=request.app.ctx.storage)
    return respond({"ok": True})
