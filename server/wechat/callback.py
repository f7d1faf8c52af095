"""Verifying and opening WeChat push messages (消息推送), plain or encrypted (安全模式).

Lives in server/wechat because it is wechatpy's crypto that does the work.
"""

from __future__ import annotations

from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature


# How far a push's timestamp may be from our clock. The plain signature covers only the token,
# the timestamp and the nonce — not the body — so a signed URL seen once (a proxy's access log)
# would otherwise carry any message forever; within the window, the handler refuses a nonce twice.
MAX_SKEW_S = 300


class BadCallback(Exception):
    """Signature, AppID, freshness or payload did not check out."""


class CallbackCodec:
    def __init__(self, *, token: str, aes_key: str, appid: str) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None

    def verify_url(self, *, signature: str, timestamp: str, nonce: str, now: float) -> None:
        """The plain signature of a push (or of the URL check), made within ``MAX_SKEW_S`` of ``now``."""
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise BadCallback("bad signature") from None
        try:
            sent = int(timestamp)
        except ValueError:
            raise BadCallback("bad timestamp") from None
        if abs(now - sent) > MAX_SKEW_S:
            raise BadCallback("stale timestamp")

    def open(self, *, body: bytes, args: dict[str, str], now: float) -> dict[str, Any]:
        """The message as a dict, after checking its signature and freshness (and decrypting it in
        safe mode). With an EncodingAESKey configured only encrypted messages are taken (安全模式
        and 兼容模式 both send them): a plain one could be anything under a replayed signature."""
        text = body.decode("utf-8", "replace")
        if self.crypto is not None and args.get("encrypt_type") != "aes":
            raise BadCallback("plain message while safe mode is configured")
        self.verify_url(signature=args.get("signature", ""), timestamp=args.get("timestamp", ""),
                        nonce=args.get("nonce", ""), now=now)
        if args.get("encrypt_type") == "aes":
            if self.crypto is None:
                raise BadCallback("encrypted message but no EncodingAESKey configured")
            try:
                text = self.crypto.decrypt_message(text, args.get("msg_signature", ""), args.get("timestamp", ""),
                                                   args.get("nonce", ""))
            except (InvalidSignatureException, InvalidAppIdException):
                raise BadCallback("bad signature or appid") from None
            except Exception:  # noqa: BLE001 - malformed ciphertext
                raise BadCallback("undecryptable") from None
        try:
            return xmltodict.parse(text)["xml"]
        except Exception:  # noqa: BLE001
            raise BadCallback("not a WeChat XML message") from None
