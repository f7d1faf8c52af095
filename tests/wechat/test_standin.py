"""The stand-in's own contract, spoken to directly over HTTP (what the gateway relies on)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from server.wechat.standin import create_standin_app


@pytest_asyncio.fixture
async def http(standin_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=standin_url) as client:
        yield client


async def get_token(http: httpx.AsyncClient) -> str:
    res = await http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": "wx1", "secret": "s"})
    body = res.json()
    assert body["expires_in"] == 7200
    return body["access_token"]


async def test_health(http: httpx.AsyncClient) -> None:
    assert (await http.get("/__standin/health")).json() == {"ok": True}


@pytest.mark.parametrize(
    ("params", "errcode"),
    [({"appid": "", "secret": "s"}, 40013), ({"appid": "wx1"}, 40125), ({"appid": "wx1", "secret": ""}, 40125)],
)
async def test_token_requires_credentials(http: httpx.AsyncClient, params: dict, errcode: int) -> None:
    res = await http.get("/cgi-bin/token", params={"grant_type": "client_credential", **params})
    assert res.status_code == 200  # WeChat reports errors in the body, not the status
    assert res.json()["errcode"] == errcode


async def test_tokens_are_counted_and_distinct(http: httpx.AsyncClient) -> None:
    first, second = await get_token(http), await get_token(http)
    assert first != second
    stats = (await http.get("/__standin/stats")).json()
    assert stats["tokens_issued"] == 2 and stats["tokens_valid"] == 2


async def test_configured_credentials_are_enforced(serve_app, new_app_name) -> None:
    app = create_standin_app(new_app_name(), appid="wx-right", secret="right")
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        base = {"grant_type": "client_credential"}
        assert (await http.get("/cgi-bin/token", params={**base, "appid": "wx-wrong", "secret": "right"})).json()["errcode"] == 40013
        assert (await http.get("/cgi-bin/token", params={**base, "appid": "wx-right", "secret": "wrong"})).json()["errcode"] == 40125
        assert "access_token" in (await http.get("/cgi-bin/token", params={**base, "appid": "wx-right", "secret": "right"})).json()


@pytest.mark.parametrize(
    ("query", "errcode"),
    [("", 41001), ("?access_token=made-up", 40001)],
)
async def test_unknown_or_missing_token_rejected(http: httpx.AsyncClient, query: str, errcode: int) -> None:
    res = await http.post(f"/wxa/msg_sec_check{query}", json={"version": 2, "openid": "o", "scene": 1, "content": "x"})
    assert res.json()["errcode"] == errcode


async def test_jscode2session_shape(http: httpx.AsyncClient) -> None:
    params = {"appid": "wx1", "secret": "s", "grant_type": "authorization_code"}
    body = (await http.get("/sns/jscode2session", params={**params, "js_code": "fake:o-1"})).json()
    assert body["openid"] == "o-1" and "unionid" not in body and "errcode" not in body
    again = (await http.get("/sns/jscode2session", params={**params, "js_code": "fake:o-1"})).json()
    assert again["session_key"] != body["session_key"]
    assert (await http.get("/sns/jscode2session", params={**params, "js_code": "nope"})).json()["errcode"] == 40029


async def test_phone_watermark_names_the_token_app(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    body = (await http.post(f"/wxa/business/getuserphonenumber?access_token={token}", json={"code": "fake-phone:13700137000"})).json()
    assert body["errcode"] == 0
    info = body["phone_info"]
    assert info["purePhoneNumber"] == info["phoneNumber"] == "13700137000"
    assert info["countryCode"] == "86" and info["watermark"]["appid"] == "wx1"


@pytest.mark.parametrize(
    "body",
    [
        {"openid": "o", "scene": 1, "content": "x"},  # v1 shape: no version
        {"version": 2, "openid": "o", "scene": 0, "content": "x"},
        {"version": 2, "scene": 1, "content": "x"},
        {"version": 2, "openid": "o", "scene": 1},
    ],
)
async def test_msg_sec_check_rejects_bad_bodies(http: httpx.AsyncClient, body: dict) -> None:
    token = await get_token(http)
    assert (await http.post(f"/wxa/msg_sec_check?access_token={token}", json=body)).json()["errcode"] == 47001


async def test_msg_sec_check_detail(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    body = (await http.post(f"/wxa/msg_sec_check?access_token={token}", json={"version": 2, "openid": "o", "scene": 2, "content": "违禁"})).json()
    assert body["result"] == {"suggest": "risky", "label": 20001}
    assert body["detail"][0]["strategy"] == "content_model" and body["trace_id"]


async def test_subscribe_send_validation(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    url = f"/cgi-bin/message/subscribe/send?access_token={token}"
    ok = {"touser": "o", "template_id": "t", "data": {"thing1": {"value": "x"}}}
    # Unwrapped values are WeChat's classic 47003.
    assert (await http.post(url, json={**ok, "data": {"thing1": "x"}})).json()["errcode"] == 47003
    assert (await http.post(url, json={**ok, "touser": "busy-o"})).json() == {"errcode": -1, "errmsg": "system error"}
    assert (await http.post(url, json={**ok, "touser": "noquota-o"})).json()["errcode"] == 43101
    first = (await http.post(url, json=ok)).json()
    second = (await http.post(url, json={**ok, "touser": "o2"})).json()
    assert first["errcode"] == 0 and second["msgid"] > first["msgid"]
    messages = (await http.get("/__standin/messages")).json()["messages"]
    assert [m["body"]["touser"] for m in messages] == ["o", "o2"]  # newest last, failures unrecorded


async def test_wxa_code_errors(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    url = f"/wxa/getwxacodeunlimit?access_token={token}"
    res = await http.post(url, json={"scene": "a=1"})
    assert res.headers["content-type"] == "image/png" and res.content.startswith(b"\x89PNG")
    assert (await http.post(url, json={"scene": "a=1", "page": "/pages/index"})).json()["errcode"] == 41030
    assert (await http.post(url, json={"scene": "s" * 33})).json()["errcode"] == 40169


@pytest.mark.parametrize("key, value, errcode", [
    ("time3", "2026-11-28 10:00", 0),
    ("time3", "15:01", 0),
    ("time3", "2019年10月1日 15:01", 0),
    ("time3", "2026-11-28 10:00~2026-11-28 12:00", 0),
    ("time3", "待定", 47003),  # WeChat: a 24-hour time (date optional), or two joined by ~
    ("time3", "-", 47003),
    ("phrase2", "已受理", 0),
    ("phrase2", "OK", 47003),  # WeChat: at most 5 Chinese characters, nothing else
    # WeChat: a name is up to 10 Chinese characters (letters may mix in), or up to 20 letters or symbols.
    ("name2", "赵某某", 0),
    ("name2", "Zhao W*", 0),
    ("name2", "赵**", 47003),
    ("name2", "阿依古丽·买买提努尔", 0),
    ("name2", "一二三四五六七八九十一", 47003),
])
async def test_subscribe_send_checks_time_phrase_and_name_values(http: httpx.AsyncClient, key: str, value: str,
                                                           errcode: int) -> None:
    token = await get_token(http)
    body = {"touser": "o", "template_id": "t", "data": {key: {"value": value}}}
    answer = (await http.post(f"/cgi-bin/message/subscribe/send?access_token={token}", json=body)).json()
    assert answer["errcode"] == errcode, answer
