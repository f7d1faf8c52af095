"""The WeChat push callback: URL verification, plain and encrypted (安全模式) messages made with
wechatpy's own crypto, bad signatures refused, retried deliveries applied once."""

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


async def test_plain_change_event_revokes_a_template(client, api):
    user = await login(client)
    await client.post("/api/v1/subscriptions", json={"accepted": ["TPL_POINTS", "TPL_POINTS"]}, headers=user.headers)
    token = api.settings.wechat_callback_token
    ts, nonce = str(int(time.time())), "abc"
    xml = (f"<xml><FromUserName><![CDATA[{user.openid}]]></FromUserName><CreateTime>{ts}</CreateTime>"
           "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_change_event]]></Event>"
           "<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[TPL_POINTS]]></TemplateId>"
           "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent></xml>")
    r = await client.post("/api/v1/wechat/callback", params={"signature": sign(token, ts, nonce), "timestamp": ts,
                                                             "nonce": nonce}, content=xml.encode())
    assert r.status_code == 200
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 0
