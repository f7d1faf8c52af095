"""A local stand-in for the WeChat server APIs Haibei uses, as a Sanic app.

It speaks the real paths and response shapes (HTTP 200 with an ``errcode`` body on errors, as
WeChat does), so the gateway runs unmodified against it; only ``api_base`` differs. State is in
memory on ``app.ctx``.

Magic inputs:
- login code ``fake:<openid>`` (or ``fake:<openid>:<unionid>`` for a user bound to an open
  platform account); ``fake-errcode:<n>`` answers errcode n (45011 too frequent, 40226 blocked
  as high-risk, -1 busy); anything else is 40029.
- phone code ``fake-phone:<11 digits>``; anything else is 40029.
- msg_sec_check content containing 违禁 -> risky, 待审 -> review, else pass.
- subscribe message to ``noquota-...`` -> 43101, to ``busy-...`` -> -1 (neither recorded); a
  keyword value WeChat refuses for its kind -> 47003 ``argument invalid! data.<key>.value invalid``
  (``... is empty`` for an empty one). The rules are ``server.wechat.values.valid``, the same the
  app fits its values to: a ``name`` with digits or symbols beside Chinese ("志愿者4号", "赵**"), a
  ``phrase`` not of 1-5 Chinese characters, a ``thing`` over 20 characters, a ``time`` that is no
  time ("待定"), emoji or a line break in any kind, a kind WeChat does not have.

Inspection endpoints (not part of WeChat) live under ``/__standin/``: health, stats, the recorded
subscribe messages, and token revocation to simulate expiry.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import secrets
import time
from typing import Any

import segno
from sanic import Request, Sanic
from sanic.exceptions import BadRequest
from sanic.response import HTTPResponse, json, raw

from server.wechat import values

TOKEN_EXPIRES_IN = 7200
SCENE_MAX_LENGTH = 32
# getUnlimitedQRCode's ``width`` in px: 430 unless given, at least 280 and at most 1280.
QR_WIDTH_DEFAULT, QR_WIDTH_MIN, QR_WIDTH_MAX = 430, 280, 1280

ERR_INVALID_APPID = {"errcode": 40013, "errmsg": "invalid appid"}
ERR_INVALID_SECRET = {"errcode": 40125, "errmsg": "invalid appsecret"}
ERR_INVALID_GRANT = {"errcode": 40002, "errmsg": "invalid grant_type"}
ERR_INVALID_TOKEN = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
ERR_TOKEN_MISSING = {"errcode": 41001, "errmsg": "access_token missing"}
ERR_TOKEN_EXPIRED = {"errcode": 42001, "errmsg": "access_token expired"}
ERR_INVALID_CODE = {"errcode": 40029, "errmsg": "invalid code"}
ERR_DATA_FORMAT = {"errcode": 47001, "errmsg": "data format error"}
ERR_ARGUMENT_INVALID = {"errcode": 47003, "errmsg": "argument invalid!"}
ERR_INVALID_OPENID = {"errcode": 40003, "errmsg": "invalid openid"}
ERR_INVALID_TEMPLATE = {"errcode": 40037, "errmsg": "invalid template_id"}
ERR_NO_QUOTA = {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
ERR_SYSTEM = {"errcode": -1, "errmsg": "system error"}
ERR_SCENE_LENGTH = {"errcode": 40169, "errmsg": "invalid length for scene"}
ERR_INVALID_PAGE = {"errcode": 41030, "errmsg": "invalid page"}

PHONE_CODE = re.compile(r"fake-phone:(\d{11})")


def create_standin_app(name: str = "wechat_standin", *, appid: str | None = None, secret: str | None = None) -> Sanic:
    """Build the stand-in. With ``appid``/``secret`` set, other credentials are refused (40013 /
    40125) like the real API; by default any non-empty pair is accepted."""
    app = Sanic(name)
    # sanic-ext is installed for the main app; the stand-in needs none of it (no OpenAPI, no CORS).
    app.config.AUTO_EXTEND = False
    # TouchUp rewrites Sanic's protocol classes process-wide and fails when it runs a second time,
    # which happens as soon as a process starts a second app (tests, embedded mode). It is only a
    # speed-up; the stand-in does without.
    app.config.TOUCHUP = False
    app.config.MOTD = False
    app.ctx.appid = appid
    app.ctx.secret = secret
    app.ctx.tokens = {}  # access_token -> {"appid": str, "expires_at": float}
    app.ctx.tokens_issued = 0
    app.ctx.messages = []
    # Errcodes the next subscribe sends answer with, one each (POST /__standin/faults).
    app.ctx.faults = []
    app.ctx.msgids = itertools.count(1_000_000_001)

    def check_credentials(given_appid: str, given_secret: str) -> dict[str, Any] | None:
        if not given_appid or (app.ctx.appid is not None and given_appid != app.ctx.appid):
            return ERR_INVALID_APPID
        if not given_secret or (app.ctx.secret is not None and given_secret != app.ctx.secret):
            return ERR_INVALID_SECRET
        return None

    def token_appid(request: Request) -> tuple[str | None, dict[str, Any] | None]:
        token = request.args.get("access_token")
        if not token:
            return None, ERR_TOKEN_MISSING
        entry = app.ctx.tokens.get(token)
        if entry is None:
            return None, ERR_INVALID_TOKEN
        if entry["expires_at"] <= time.time():
            return None, ERR_TOKEN_EXPIRED
        return entry["appid"], None

    def json_body(request: Request) -> dict[str, Any] | None:
        try:
            body = request.json
        except BadRequest:
            return None
        return body if isinstance(body, dict) else None

    # ---- WeChat APIs ------------------------------------------------------------------------

    @app.get("/cgi-bin/token")
    async def token(request: Request) -> HTTPResponse:
        if request.args.get("grant_type") != "client_credential":
            return json(ERR_INVALID_GRANT)
        given_appid = request.args.get("appid", "")
        error = check_credentials(given_appid, request.args.get("secret", ""))
        if error:
            return json(error)
        access_token = secrets.token_urlsafe(96)
        app.ctx.tokens[access_token] = {"appid": given_appid, "expires_at": time.time() + TOKEN_EXPIRES_IN}
        app.ctx.tokens_issued += 1
        return json({"access_token": access_token, "expires_in": TOKEN_EXPIRES_IN})

    @app.get("/sns/jscode2session")
    async def jscode2session(request: Request) -> HTTPResponse:
        error = check_credentials(request.args.get("appid", ""), request.args.get("secret", ""))
        if error:
            return json(error)
        if request.args.get("grant_type") != "authorization_code":
            return json(ERR_INVALID_GRANT)
        code = request.args.get("js_code", "")
        if code.startswith("fake-errcode:") and code[len("fake-errcode:"):].lstrip("-").isdigit():
            return json({"errcode": int(code[len("fake-errcode:"):]), "errmsg": "marked input"})
        if not code.startswith("fake:"):
            return json(ERR_INVALID_CODE)
        openid, _, unionid = code[len("fake:"):].partition(":")
        if not openid:
            return json(ERR_INVALID_CODE)
        # Real session_keys are base64 of a 16-byte AES key; a fresh one per login, as WeChat does.
        result: dict[str, Any] = {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(), "openid": openid}
        if unionid:
            result["unionid"] = unionid
        return json(result)

    @app.post("/wxa/business/getuserphonenumber")
    async def getuserphonenumber(request: Request) -> HTTPResponse:
        caller, error = token_appid(request)
        if error:
            return json(error)
        body = json_body(request)
        if body is None:
            return json(ERR_DATA_FORMAT)
        match = PHONE_CODE.fullmatch(str(body.get("code", "")))
        if not match:
            return json(ERR_INVALID_CODE)
        number = match.group(1)
        return json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": number,
                    "purePhoneNumber": number,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(time.time()), "appid": caller},
                },
            }
        )

    @app.post("/wxa/msg_sec_check")
    async def msg_sec_check(request: Request) -> HTTPResponse:
        _, error = token_appid(request)
        if error:
            return json(error)
        body = json_body(request)
        if (
            body is None
            or body.get("version") != 2
            or not isinstance(body.get("openid"), str)
            or not body["openid"]
            or type(body.get("scene")) is not int
            or not 1 <= body["scene"] <= 4
            or not isinstance(body.get("content"), str)
        ):
            return json(ERR_DATA_FORMAT)
        content = body["content"]
        if "违禁" in content:
            suggest, label = "risky", 20001
        elif "待审" in content:
            suggest, label = "review", 20002
        else:
            suggest, label = "pass", 100
        return json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
                "trace_id": f"{int(time.time())}-{secrets.token_hex(8)}",
            }
        )

    @app.post("/cgi-bin/message/subscribe/send")
    async def subscribe_send(request: Request) -> HTTPResponse:
        _, error = token_appid(request)
        if error:
            return json(error)
        body = json_body(request)
        if body is None:
            return json(ERR_DATA_FORMAT)
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            return json(ERR_INVALID_OPENID)
        if not body.get("template_id"):
            return json(ERR_INVALID_TEMPLATE)
        data = body.get("data")
        # WeChat wants every field as {"value": "..."}; a bare string is the classic mistake.
        if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            return json(ERR_ARGUMENT_INVALID)
        if touser.startswith("noquota-"):
            return json(ERR_NO_QUOTA)
        if touser.startswith("busy-"):
            return json(ERR_SYSTEM)
        # WeChat's rules for each keyword's kind (server/wechat/values.py), the first refused named
        # as WeChat names it: "is empty" for an empty value, "invalid" for any other.
        bad_field = next((key for key, value in data.items() if not values.valid(key, value["value"])), None)
        if bad_field:
            why = "is empty" if not data[bad_field]["value"].strip() else "invalid"
            return json({"errcode": 47003, "errmsg": f"argument invalid! data.{bad_field}.value {why}"})
        if app.ctx.faults:
            code = app.ctx.faults.pop(0)
            return json({"errcode": code, "errmsg": "injected fault"})
        msgid = next(app.ctx.msgids)
        app.ctx.messages.append({"msgid": msgid, "received_at": time.time(), "body": body})
        return json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    @app.post("/wxa/getwxacodeunlimit")
    async def getwxacodeunlimit(request: Request) -> HTTPResponse:
        _, error = token_appid(request)
        if error:
            return json(error)
        body = json_body(request)
        if body is None:
            return json(ERR_DATA_FORMAT)
        scene = body.get("scene")
        if not isinstance(scene, str) or not scene or len(scene) > SCENE_MAX_LENGTH:
            return json(ERR_SCENE_LENGTH)
        page = body.get("page")
        # WeChat rejects pages given with a leading slash (and pages that do not exist).
        if page is not None and (not isinstance(page, str) or page.startswith("/")):
            return json(ERR_INVALID_PAGE)
        width = body.get("width", QR_WIDTH_DEFAULT)
        # A mistyped field is malformed data to WeChat (47001); the gateway always sends an int.
        if isinstance(width, bool) or not isinstance(width, int):
            return json(ERR_DATA_FORMAT)
        return raw(qr_png(scene, width=width), content_type="image/png")

    # ---- stand-in inspection ----------------------------------------------------------------

    @app.get("/__standin/health")
    async def health(request: Request) -> HTTPResponse:
        return json({"ok": True})

    @app.get("/__standin/stats")
    async def stats(request: Request) -> HTTPResponse:
        now = time.time()
        return json(
            {
                "tokens_issued": app.ctx.tokens_issued,
                "tokens_valid": sum(1 for t in app.ctx.tokens.values() if t["expires_at"] > now),
                "messages": len(app.ctx.messages),
            }
        )

    @app.get("/__standin/messages")
    async def list_messages(request: Request) -> HTTPResponse:
        return json({"messages": app.ctx.messages})

    @app.post("/__standin/faults")
    async def inject_faults(request: Request) -> HTTPResponse:
        """``{"errcode": -1, "count": 2}``: the next two subscribe sends fail with -1."""
        body = json_body(request) or {}
        app.ctx.faults.extend([int(body.get("errcode", -1))] * int(body.get("count", 1)))
        return json({"queued": len(app.ctx.faults)})

    @app.delete("/__standin/messages")
    async def clear_messages(request: Request) -> HTTPResponse:
        count = len(app.ctx.messages)
        app.ctx.messages.clear()
        return json({"cleared": count})

    @app.delete("/__standin/tokens")
    async def revoke_tokens(request: Request) -> HTTPResponse:
        """Forget every issued token, as if they all expired: callers then get 40001."""
        count = len(app.ctx.tokens)
        app.ctx.tokens.clear()
        return json({"revoked": count})

    return app


def qr_png(scene: str, *, width: int = QR_WIDTH_DEFAULT) -> bytes:
    """A scannable black-on-white QR code PNG whose text is exactly ``scene``, about ``width`` px wide.

    WeChat's answer is a wxacode: a round "sun code" that only WeChat can read, which opens the
    mini-program's ``page`` and hands it ``scene`` (``options.scene``). Nobody but WeChat can draw
    one, so the honest local stand-in is a plain QR code holding the scene: any scanner (the phone's
    camera, ``wx.scanCode``, zxing in the tests) reads back what the mini-program would receive, and a
    plate printed from it can be tried on site. ``page`` is not in the image, as a wxacode does not
    show it either. The width is held to WeChat's 280-1280 px; the image is a whole number of pixels
    per module (with the standard four-module quiet zone), so it comes out near the width, not at it.
    """
    code = segno.make_qr(scene, error="m")
    modules = code.symbol_size(scale=1)[0]  # the quiet zone included
    width = min(max(width, QR_WIDTH_MIN), QR_WIDTH_MAX)
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, round(width / modules)))
    return out.getvalue()
