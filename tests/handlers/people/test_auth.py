"""Login through the stand-in over real HTTP, tokens, revocation, phone binding."""

import logging
import time

import jwt

from models import User, UserRole, WechatSession
from server.auth import issue_token
from server.wechat import RedisTokenStorage, WeChatGateway
from tests.builders import grant, login, make_admin, new_openid
from tests.conftest import ENV_ADMIN_OPENID
from tests.handlers.test_platform import assert_error


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record) + repr(record.__dict__))


async def test_login_creates_a_resident_account_and_returns_token(client):
    openid = new_openid()
    r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{openid}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["roles"] == ["resident"]
    user = await User.get(id=body["user"]["id"])
    assert user.openid == openid
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user.id and me.json()["resident"] is None and me.json()["volunteer"] is None


async def test_second_login_finds_the_same_user(client):
    openid = new_openid()
    first = await login(client, openid)
    second = await login(client, openid)
    assert first.id == second.id
    assert await User.filter(openid=openid).count() == 1


async def test_session_key_never_leaves_the_server(client, api, standin):
    """The session_key is in no response and no log line, and is stored only encrypted."""
    collector = Collect()
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    old_levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(collector)
        lg.setLevel(logging.DEBUG)
    try:
        openid = new_openid()
        r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{openid}"})
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    finally:
        for lg, level in old_levels:
            lg.removeHandler(collector)
            lg.setLevel(level)
    user = await User.get(openid=openid)
    stored = await WechatSession.get(user_id=user.id)
    session_key = api.cipher.decrypt(stored.session_key_enc, context="wechat_session.session_key")
    assert len(session_key) >= 16
    assert session_key not in stored.session_key_enc
    assert session_key not in r.text and session_key not in me.text
    assert "session_key" not in r.text
    assert collector.lines, "the log capture saw nothing, so it proves nothing"
    assert not [line for line in collector.lines if session_key in line]


async def test_bad_code_is_rejected_and_writes_nothing(client):
    before = await User.all().count()
    r = await client.post("/api/v1/auth/wechat-login", json={"code": "not-a-real-code"})
    assert_error(r, 400, "WECHAT_CODE_INVALID")
    assert await User.all().count() == before


async def test_wechat_unreachable_at_login_is_503(client, api):
    live = api.app.ctx.wechat
    dead = WeChatGateway(appid="wx", secret="s", api_base="http://127.0.0.1:9", timeout=1.0,
                         token_storage=RedisTokenStorage(api.app.ctx.redis.sync, prefix="t:"))
    api.app.ctx.wechat = dead
    try:
        r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{new_openid()}"})
    finally:
        api.app.ctx.wechat = live
        await dead.close()
    assert_error(r, 503, "WECHAT_UNAVAILABLE")
    assert await User.all().count() == 0


async def test_wechat_refusing_for_now_is_try_again_later_not_authorise_again(client):
    """45011: the user's login calls hit WeChat's rate (100 a minute). The code is not bad, and
    authorising again at once only hits it again; as WeChat says: try again in a while."""
    before = await User.all().count()
    for errcode in (45011, -1):
        r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake-errcode:{errcode}"})
        assert_error(r, 503, "WECHAT_UNAVAILABLE")
    assert_error(await client.post("/api/v1/auth/wechat-login", json={"code": "fake-errcode:40029"}),
                 400, "WECHAT_CODE_INVALID")
    assert await User.all().count() == before


async def test_admin_openids_get_admin_at_login(client):
    s = await login(client, ENV_ADMIN_OPENID)
    assert "admin" in s.user["roles"]
    again = await login(client, ENV_ADMIN_OPENID)
    assert again.user["roles"].count("admin") == 1


async def test_mass_assignment_of_roles_is_refused(client):
    r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{new_openid()}", "roles": ["admin"]})
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "roles"
    assert await UserRole.filter(role="admin").count() == 0


async def test_missing_and_malformed_tokens_are_401(client):
    assert_error(await client.get("/api/v1/me"), 401, "UNAUTHENTICATED")
    assert_error(await client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}), 401, "TOKEN_INVALID")
    assert_error(await client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401, "UNAUTHENTICATED")


async def test_forged_token_is_401(client):
    s = await login(client)
    forged = jwt.encode({"iss": "haibei", "sub": str(s.id), "ver": 1, "exp": int(time.time()) + 60},
                        "not-the-secret-" * 3, algorithm="HS256")
    assert_error(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401, "TOKEN_INVALID")
    unsigned = jwt.encode({"iss": "haibei", "sub": str(s.id), "ver": 1, "exp": int(time.time()) + 60}, None, algorithm="none")
    assert_error(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {unsigned}"}), 401, "TOKEN_INVALID")


async def test_expired_token_is_401(client, api):
    s = await login(client)
    user = await User.get(id=s.id)
    expired = issue_token(user=user, secret=api.settings.jwt_secret, ttl_seconds=-5)
    err = assert_error(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"}), 401, "TOKEN_INVALID")
    assert "过期" in err["message"]


async def test_token_of_a_removed_role_no_longer_works_for_that_role(client, api):
    from tests.builders import make_station

    station = await make_station()
    worker = await grant(await login(client), "worker", station_id=station.id)
    assert (await client.get("/api/v1/residents", headers=worker.headers)).status_code == 200
    # The account is now in this process's cache; an admin takes the role away.
    admin = await make_admin(client)
    r = await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": worker.id, "role": "worker"},
                             headers=admin.headers)
    assert r.status_code in (200, 204), r.text
    assert not await UserRole.exists(user_id=worker.id, role="worker")
    assert_error(await client.get("/api/v1/residents", headers=worker.headers), 403, "FORBIDDEN")


async def test_bind_phone_through_wechat(client):
    s = await login(client)
    r = await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345678"}, headers=s.headers)
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "138****5678"
    user = await User.get(id=s.id)
    assert user.phone_enc and "13812345678" not in user.phone_enc
    me = await client.get("/api/v1/me", headers=s.headers)
    assert me.json()["phone"] == "138****5678"


async def test_bind_phone_with_bad_code_changes_nothing(client):
    s = await login(client)
    r = await client.post("/api/v1/me/phone", json={"code": "fake-phone:123"}, headers=s.headers)
    assert_error(r, 400, "WECHAT_CODE_INVALID")
    assert (await User.get(id=s.id)).phone_enc is None


async def test_a_wechat_account_blocked_by_wechat_is_told_so_not_to_authorise_again(client):
    """40226: WeChat stops a high-risk account from logging in to mini-programs. Authorising again
    cannot help; the person is told to settle it with WeChat, and no account is made."""
    before = await User.all().count()
    r = await client.post("/api/v1/auth/wechat-login", json={"code": "fake-errcode:40226"})
    err = assert_error(r, 403, "WECHAT_USER_BLOCKED")
    assert "微信" in err["message"]
    assert await User.all().count() == before


async def test_phone_binding_is_rate_limited_per_user(client, api):
    from tests.handlers.test_rate_limits import assert_limited, limits

    session = await login(client)
    with limits(api, "phone_bind", user=[2, 3600]):
        for tail in ("1", "2"):
            r = await client.post("/api/v1/me/phone", json={"code": f"fake-phone:1381234567{tail}"}, headers=session.headers)
            assert r.status_code == 200, r.text
        r = await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345673"}, headers=session.headers)
        assert_limited(r, "user")
    assert (await User.get(id=session.id)).phone_masked.endswith("72")
