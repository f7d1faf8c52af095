"""The gateway against the stand-in over real HTTP (wechatpy -> requests -> Sanic)."""

from __future__ import annotations

import asyncio
import logging
import time

import fakeredis
import httpx
import pytest
from sanic import Sanic

from server.wechat import RedisTokenStorage, WeChatError, WeChatGateway, WeChatUnavailable
from tests.wechat.test_standin import png_gray, scan_png


@pytest.fixture
def token_key(wechat_appid: str) -> str:
    # wechatpy's key layout: "{appid}_access_token", under RedisTokenStorage's prefix.
    return f"{wechat_appid}_access_token"


# ---- login ---------------------------------------------------------------------------------


async def test_code_to_session_ok(gateway: WeChatGateway, standin_app: Sanic) -> None:
    session = await gateway.code_to_session(code="fake:o-alice")
    assert session["openid"] == "o-alice"
    assert session["unionid"] is None
    assert len(session["session_key"]) == 24  # base64 of 16 bytes
    # code2Session authenticates with appid+secret: logging in must not cost an access token.
    assert standin_app.ctx.tokens_issued == 0


async def test_code_to_session_with_unionid(gateway: WeChatGateway) -> None:
    session = await gateway.code_to_session(code="fake:o-bob:u-bob")
    assert (session["openid"], session["unionid"]) == ("o-bob", "u-bob")


async def test_code_to_session_invalid_code(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.code_to_session(code="real-looking-code")
    assert info.value.errcode == 40029
    assert not isinstance(info.value, WeChatUnavailable)


async def test_session_key_is_never_logged(gateway: WeChatGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = await gateway.code_to_session(code="fake:o-carol")
    with pytest.raises(WeChatError):
        await gateway.code_to_session(code="bad")
    assert caplog.records  # urllib3 logs at DEBUG, so logging did happen
    assert session["session_key"] not in caplog.text


async def test_wrong_secret_is_a_wechat_error(make_gateway) -> None:
    gateway = make_gateway(secret="")
    with pytest.raises(WeChatError) as info:
        await gateway.code_to_session(code="fake:o-x")
    assert info.value.errcode == 40125
    with pytest.raises(WeChatError) as info:  # token fetch path
        await gateway.msg_sec_check(openid="o-x", content="hi")
    assert info.value.errcode == 40125


# ---- phone ---------------------------------------------------------------------------------


async def test_get_phone_number_ok(gateway: WeChatGateway) -> None:
    assert await gateway.get_phone_number(code="fake-phone:13800138000") == "13800138000"


async def test_get_phone_number_bad_code(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.get_phone_number(code="fake-phone:123")
    assert info.value.errcode == 40029


# ---- content security ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "suggest", "label"),
    [("今天天气不错", "pass", 100), ("这段待审核", "review", 20002), ("含有违禁内容", "risky", 20001)],
)
async def test_msg_sec_check(gateway: WeChatGateway, content: str, suggest: str, label: int) -> None:
    verdict = await gateway.msg_sec_check(openid="o-alice", content=content, scene=3)
    assert verdict["suggest"] == suggest
    assert verdict["label"] == label
    assert verdict["trace_id"]


async def test_msg_sec_check_bad_scene(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.msg_sec_check(openid="o-alice", content="hi", scene=9)
    assert info.value.errcode == 47001


# ---- subscribe messages --------------------------------------------------------------------


async def test_subscribe_message_recorded(gateway: WeChatGateway, standin_url: str) -> None:
    before = time.time()
    await gateway.send_subscribe_message(
        openid="o-alice",
        template_id="tpl-1",
        data={"thing1": "海边清洁", "time2": "2025-06-01 09:00"},
        page="pages/event/index?id=7",
        miniprogram_state="trial",
    )
    async with httpx.AsyncClient(base_url=standin_url) as http:
        messages = (await http.get("/__standin/messages")).json()["messages"]
        assert len(messages) == 1
        message = messages[0]
        assert message["received_at"] >= before
        assert message["body"] == {
            "touser": "o-alice",
            "template_id": "tpl-1",
            "data": {"thing1": {"value": "海边清洁"}, "time2": {"value": "2025-06-01 09:00"}},
            "page": "pages/event/index?id=7",
            "miniprogram_state": "trial",
            "lang": "zh_CN",
        }
        assert (await http.delete("/__standin/messages")).json() == {"cleared": 1}
        assert (await http.get("/__standin/messages")).json() == {"messages": []}


async def test_subscribe_message_no_quota(gateway: WeChatGateway, standin_app: Sanic) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.send_subscribe_message(openid="noquota-alice", template_id="tpl-1", data={"thing1": "x"})
    assert info.value.errcode == 43101
    assert not isinstance(info.value, WeChatUnavailable)
    assert standin_app.ctx.messages == []


async def test_subscribe_message_busy_is_unavailable(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatUnavailable) as info:
        await gateway.send_subscribe_message(openid="busy-alice", template_id="tpl-1", data={"thing1": "x"})
    assert info.value.errcode == -1


async def test_subscribe_message_without_template(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.send_subscribe_message(openid="o-alice", template_id="", data={"thing1": "x"})
    assert info.value.errcode == 40037


# ---- mini-program code ---------------------------------------------------------------------


async def test_wxa_code_is_a_png_reading_back_the_scene(gateway: WeChatGateway) -> None:
    image = await gateway.get_wxa_code_unlimited(scene="e=42", page="pages/event/index", check_path=False)
    assert scan_png(image) == ["e=42"]
    # 430 px unless asked, as WeChat; whole pixels per module (29 with the quiet zone) make it near.
    assert abs(png_gray(image)[0] - 430) <= 15
    other = await gateway.get_wxa_code_unlimited(scene="e=43", page="pages/event/index", width=1280)
    assert scan_png(other) == ["e=43"] and abs(png_gray(other)[0] - 1280) <= 15


async def test_wxa_code_scene_too_long(gateway: WeChatGateway) -> None:
    with pytest.raises(WeChatError) as info:
        await gateway.get_wxa_code_unlimited(scene="x" * 33)
    assert info.value.errcode == 40169


# ---- access token --------------------------------------------------------------------------


async def test_token_fetched_once_and_shared(make_gateway, standin_app: Sanic) -> None:
    first, second = make_gateway(), make_gateway()
    # Both "processes" start with an empty cache and call at once.
    await asyncio.gather(
        *(first.msg_sec_check(openid="o", content=f"a{i}") for i in range(6)),
        *(second.get_phone_number(code="fake-phone:13800138000") for _ in range(6)),
    )
    await second.send_subscribe_message(openid="o", template_id="t", data={"thing1": "x"})
    assert standin_app.ctx.tokens_issued == 1


async def test_stale_cached_token_is_replaced(
    gateway: WeChatGateway, token_storage: RedisTokenStorage, token_key: str, standin_app: Sanic
) -> None:
    token_storage.set(token_key, "garbage-token", 3600)
    verdict = await gateway.msg_sec_check(openid="o", content="hello")
    assert verdict["suggest"] == "pass"
    assert standin_app.ctx.tokens_issued == 1
    fresh = token_storage.get(token_key)
    assert fresh and fresh != "garbage-token" and fresh in standin_app.ctx.tokens


async def test_revoked_token_is_refetched(gateway: WeChatGateway, standin_url: str, standin_app: Sanic) -> None:
    await gateway.get_phone_number(code="fake-phone:13900139000")
    async with httpx.AsyncClient(base_url=standin_url) as http:
        assert (await http.delete("/__standin/tokens")).json() == {"revoked": 1}
    assert await gateway.get_phone_number(code="fake-phone:13900139000") == "13900139000"
    assert standin_app.ctx.tokens_issued == 2


async def test_rejected_token_does_not_drop_a_newer_one(token_storage: RedisTokenStorage, token_key: str) -> None:
    token_storage.set(token_key, "newer", 3600)
    assert token_storage.delete_if_equal(token_key, "older") is False
    assert token_storage.get(token_key) == "newer"
    assert token_storage.delete_if_equal(token_key, "newer") is True
    assert token_storage.get(token_key) is None


async def test_token_storage_ttl_and_json(redis_server: fakeredis.FakeServer) -> None:
    client = fakeredis.FakeRedis(server=redis_server)
    storage = RedisTokenStorage(client, prefix="p:")
    storage.set("k", {"a": [1, "二"]}, ttl=120)
    assert storage.get("k") == {"a": [1, "二"]}
    assert 0 < client.ttl("p:k") <= 120
    storage.delete("k")
    assert storage.get("k", "default") == "default"


# ---- outages -------------------------------------------------------------------------------


async def test_standin_down_is_unavailable(make_gateway, closed_port_url: str, wechat_secret: str) -> None:
    gateway = make_gateway(api_base=closed_port_url)
    with pytest.raises(WeChatUnavailable) as info:
        await gateway.code_to_session(code="fake:o-alice")
    assert info.value.errcode is None
    assert wechat_secret not in str(info.value)
    with pytest.raises(WeChatUnavailable):
        await gateway.msg_sec_check(openid="o", content="hi")


async def test_timeout_is_unavailable(make_gateway, silent_url: str) -> None:
    """A WeChat that never answers ends the call with WeChatUnavailable once the gateway's own
    timeout runs out. Measured against the same call with a timeout six times as long (not against
    a wall-clock limit): neither gives up before its timeout, and the short one is over before the
    long timeout would have run out (it would not be if the gateway ignored the timeout it is given
    for the fixture's 2 s, or for none)."""
    timeout, factor = 0.3, 6

    async def give_up_after(seconds: float) -> float:
        gateway = make_gateway(api_base=silent_url, timeout=seconds)
        started = time.monotonic()
        with pytest.raises(WeChatUnavailable) as info:
            # Only a hang guard: the silent server never answers, only the timeout ends the call.
            await asyncio.wait_for(gateway.get_phone_number(code="fake-phone:13800138000"), 60 * seconds)
        elapsed = time.monotonic() - started
        assert "Timeout" in str(info.value), info.value  # the timeout ended it (e.g. ReadTimeout calling /cgi-bin/token)
        assert elapsed >= seconds, f"gave up after {elapsed:.2f} s, before its {seconds} s timeout"
        return elapsed

    short = await give_up_after(timeout)
    long = await give_up_after(factor * timeout)
    assert short < factor * timeout <= long, \
        f"the {timeout} s timeout waited {short:.2f} s, the {factor * timeout:g} s one {long:.2f} s"


async def test_closed_gateway_refuses_calls(make_gateway) -> None:
    gateway = make_gateway()
    await gateway.close()
    with pytest.raises(RuntimeError):
        await gateway.code_to_session(code="fake:o")


async def test_token_storage_with_decoded_responses(redis_server: fakeredis.FakeServer) -> None:
    # The app's sync client uses decode_responses=True (str, not bytes); locks and
    # compare-and-delete must work with both.
    storage = RedisTokenStorage(fakeredis.FakeRedis(server=redis_server, decode_responses=True), prefix="d")
    storage.set("k", "v", ttl=60)
    assert storage.get("k") == "v"
    assert storage.delete_if_equal("k", "v") is True
    with storage.lock("x") as first:
        with storage.lock("x", wait=0.1) as second:
            assert (first, second) == (True, False)
    with storage.lock("x", wait=0) as again:  # released on exit
        assert again is True


async def test_with_redis_down_the_token_is_kept_in_the_process(make_gateway, redis_server, standin_app: Sanic) -> None:
    """Redis unreachable: calls go on, but not each with a token fetch of its own. WeChat allows
    2 000 /cgi-bin/token calls a day, and each fetch voids the token before it; a fetch per call
    would spend the day's quota within an hour's outage and stop every WeChat feature until midnight."""
    redis_server.connected = False
    gateway = make_gateway()
    for i in range(5):
        await gateway.send_subscribe_message(openid=f"o{i}", template_id="t", data={"thing1": "x"})
    assert standin_app.ctx.tokens_issued == 1
