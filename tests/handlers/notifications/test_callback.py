"""The WeChat push callback: URL verification, plain and encrypted (安全模式) messages made with
wechatpy's own crypto, bad signatures refused, retried deliveries applied once."""

import contextlib
import dataclasses
import hashlib
import time
import uuid

from wechatpy.crypto import WeChatCrypto

from models import CallbackEvent, SubscriptionQuota
from tests.builders import login
from tests.handlers.test_platform import assert_error


def sign(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def popup_xml(openid: str, create_time: int, *templates: tuple[str, str]) -> str:
    items = "".join(
        f"<List><TemplateId><![CDATA[{t}]]></TemplateId><SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>"
        f"<PopupScene>0</PopupScene></List>" for t, status in templates
    )
    return (f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent></xml>")


async def test_url_verification(client, api):
    token = api.settings.wechat_callback_token
    ts, nonce = str(int(time.time())), "n123"
    r = await client.get("/api/v1/wechat/callback", params={"signature": sign(token, ts, nonce), "timestamp": ts,
                                                            "nonce": nonce, "echostr": "hello-wechat"})
    assert r.status_code == 200 and r.text == "hello-wechat"
    r = await client.get("/api/v1/wechat/callback", params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce,
                                                            "echostr": "x"})
    assert_error(r, 403, "FORBIDDEN")


async def test_encrypted_popup_grants_quota_once_however_often_it_arrives(client, api):
    user = await login(client)
    settings = api.settings
    crypto = WeChatCrypto(settings.wechat_callback_token, settings.wechat_aes_key, settings.wechat_appid)
    plain = popup_xml(user.openid, int(time.time()), ("TPL_POINTS", "accept"), ("TPL_RATE", "reject"))
    nonce, ts = uuid.uuid4().hex[:10], str(int(time.time()))
    encrypted = crypto.encrypt_message(plain, nonce, ts)
    msg_signature = encrypted.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    params = {"signature": sign(settings.wechat_callback_token, ts, nonce), "timestamp": ts, "nonce": nonce,
              "encrypt_type": "aes", "msg_signature": msg_signature, "openid": user.openid}
    for _ in range(3):  # WeChat retries a delivery it thinks failed
        r = await client.post("/api/v1/wechat/callback", params=params, content=encrypted.encode(),
                              headers={"content-type": "text/xml"})
        assert r.status_code == 200 and r.text == "success"
    quota = await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")
    assert quota.remaining == 1
    assert not await SubscriptionQuota.filter(user_id=user.id, template_id="TPL_RATE", remaining__gt=0).exists()
    assert await CallbackEvent.all().count() == 1


async def test_bad_signature_or_tampered_message_changes_nothing(client, api):
    user = await login(client)
    settings = api.settings
    crypto = WeChatCrypto(settings.wechat_callback_token, settings.wechat_aes_key, settings.wechat_appid)
    nonce, ts = "n1", str(int(time.time()))
    encrypted = crypto.encrypt_message(popup_xml(user.openid, 1, ("TPL_POINTS", "accept")), nonce, ts)
    r = await client.post("/api/v1/wechat/callback", params={"timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                                                             "msg_signature": "f" * 40}, content=encrypted.encode())
    assert_error(r, 403, "FORBIDDEN")
    plain = popup_xml(user.openid, 2, ("TPL_POINTS", "accept"))
    r = await client.post("/api/v1/wechat/callback", params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce},
                          content=plain.encode())
    assert_error(r, 403, "FORBIDDEN")
    assert await SubscriptionQuota.all().count() == 0 and await CallbackEvent.all().count() == 0


@contextlib.contextmanager
def plain_mode(api):
    """The callback configured without an EncodingAESKey (明文模式)."""
    saved = api.app.ctx.settings
    api.app.ctx.settings = dataclasses.replace(saved, wechat_aes_key="")
    try:
        yield
    finally:
        api.app.ctx.settings = saved


def change_xml(openid: str, create_time: int, template: str = "TPL_POINTS") -> str:
    return (f"<xml><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_change_event]]></Event>"
            f"<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[{template}]]></TemplateId>"
            "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>")


def signed(api, ts: str, nonce: str) -> dict[str, str]:
    return {"signature": sign(api.settings.wechat_callback_token, ts, nonce), "timestamp": ts, "nonce": nonce}


async def test_plain_change_event_revokes_a_template(client, api):
    user = await login(client)
    await client.post("/api/v1/subscriptions", json={"accepted": ["TPL_POINTS", "TPL_POINTS"]}, headers=user.headers)
    ts = str(int(time.time()))
    with plain_mode(api):
        r = await client.post("/api/v1/wechat/callback", params=signed(api, ts, "abc"),
                              content=change_xml(user.openid, int(ts)).encode())
    assert r.status_code == 200
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 0


async def test_in_safe_mode_a_plain_message_is_refused_whatever_its_signature(client, api):
    # Every push WeChat sends carries a valid plain signature in its URL, encrypted ones too.
    user = await login(client)
    await client.post("/api/v1/subscriptions", json={"accepted": ["TPL_POINTS"]}, headers=user.headers)
    ts = str(int(time.time()))
    r = await client.post("/api/v1/wechat/callback", params=signed(api, ts, "n-safe"),
                          content=change_xml(user.openid, int(ts)).encode())
    assert_error(r, 403, "FORBIDDEN")
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 1
    assert await CallbackEvent.all().count() == 0


async def test_a_signature_from_long_ago_or_used_before_carries_no_message(client, api):
    user = await login(client)
    await client.post("/api/v1/subscriptions", json={"accepted": ["TPL_POINTS", "TPL_RATE"]}, headers=user.headers)
    now = int(time.time())
    with plain_mode(api):
        # A URL seen in 2017's logs.
        r = await client.post("/api/v1/wechat/callback", params=signed(api, "1500000000", "old"),
                              content=change_xml(user.openid, now).encode())
        assert_error(r, 403, "FORBIDDEN")
        # A fresh one, used once as WeChat sent it, then again with another body.
        params = signed(api, str(now), "once")
        r = await client.post("/api/v1/wechat/callback", params=params,
                              content=change_xml(user.openid, now, "TPL_RATE").encode())
        assert r.status_code == 200
        r = await client.post("/api/v1/wechat/callback", params=params,
                              content=change_xml(user.openid, now + 1, "TPL_POINTS").encode())
        assert r.status_code == 200 and r.text == "success"  # what WeChat expects; nothing applied
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_RATE")).remaining == 0
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 1
    assert await CallbackEvent.all().count() == 1


async def test_url_verification_with_a_stale_timestamp_is_refused(client, api):
    ts, nonce = "1500000000", "n-stale"
    r = await client.get("/api/v1/wechat/callback", params={**signed(api, ts, nonce), "echostr": "x"})
    assert_error(r, 403, "FORBIDDEN")
