"""The stand-in's own contract, spoken to directly over HTTP (what the gateway relies on)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import zxingcpp

from server.wechat.standin import create_standin_app


def png_gray(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, one 8-bit gray byte per pixel) of a non-interlaced gray or palette PNG.

    Enough of PNG for the QR codes segno writes (1-bit gray), so zxing can read them without
    Pillow or numpy; CRCs and every scanline filter are checked and undone, not assumed."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0], kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth in (1, 2, 4, 8) and color in (0, 3) and interlace == 0, (depth, color, interlace)
    top = (1 << depth) - 1
    if color == 3:
        palette = chunks[b"PLTE"]
        levels = [sum(palette[3 * v:3 * v + 3]) // 3 if 3 * v < len(palette) else 0 for v in range(top + 1)]
    else:
        levels = [v * 255 // top for v in range(top + 1)]
    per_byte = 8 // depth
    expand = [bytes(levels[(b >> (8 - depth * (i + 1))) & top] for i in range(per_byte)) for b in range(256)]
    stride = (width * depth + 7) // 8
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (stride + 1)
    prev, out = bytearray(stride), bytearray()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # one byte per pixel or less: the "previous pixel" is the previous byte
            a, b, c = (line[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else:
                assert kind == 0, kind
        out += b"".join(expand[b] for b in line)[:width]
        prev = line
    return width, height, bytes(out)


def scan_png(data: bytes) -> list[str]:
    """What a scanner reads from the image: the text of every QR code zxing finds in it."""
    width, height, pixels = png_gray(data)
    found = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))
    return [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]


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
    assert res.headers["content-type"] == "image/png" and scan_png(res.content) == ["a=1"]
    assert (await http.post(url, json={"scene": "a=1", "page": "/pages/index"})).json()["errcode"] == 41030
    assert (await http.post(url, json={"scene": "s" * 33})).json()["errcode"] == 40169
    assert (await http.post(url, json={"scene": ""})).json()["errcode"] == 40169
    assert (await http.post(url, json={"scene": "a=1", "width": "430"})).json()["errcode"] == 47001
    unknown_token = f"/wxa/getwxacodeunlimit?access_token={token}x"
    assert (await http.post(unknown_token, json={"scene": "a=1"})).json()["errcode"] == 40001


# The longest scene WeChat takes, in every character it allows, and a household plate's scene.
@pytest.mark.parametrize("scene", ["h2n9c.5f0c8e1a9b3d7f26", "Az09!#$&'()*+,/:;=?@-._~" + "x" * 8])
async def test_wxa_code_is_a_qr_code_reading_back_the_scene(http: httpx.AsyncClient, scene: str) -> None:
    token = await get_token(http)
    res = await http.post(f"/wxa/getwxacodeunlimit?access_token={token}",
                          json={"scene": scene, "page": "pages/checkin/index", "check_path": False})
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert scan_png(res.content) == [scene]  # the text alone: no page, no prefix


@pytest.mark.parametrize(("asked", "wanted"), [(None, 430), (280, 280), (1280, 1280), (100, 280), (5000, 1280)])
async def test_wxa_code_is_about_as_wide_as_asked(http: httpx.AsyncClient, asked: int | None, wanted: int) -> None:
    """WeChat's width is 430 px unless given, held to 280-1280; whole pixels per module make it
    come out within half a module (33 modules with the quiet zone, for a short scene) of it."""
    token = await get_token(http)
    body = {"scene": "a=1"} | ({} if asked is None else {"width": asked})
    png = (await http.post(f"/wxa/getwxacodeunlimit?access_token={token}", json=body)).content
    width, height, _ = png_gray(png)
    assert width == height and abs(width - wanted) <= 33 // 2 + 1, width
    assert scan_png(png) == ["a=1"]
