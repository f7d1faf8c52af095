"""Verifying and opening WeChat push messages (消息推送), plain or encrypted (安全模式).

Lives in server/wechat because it is wechatpy's crypto that does the work.
"""

from __future__ import annotations

from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature


class BadCallback(Exception):
    """Signature, AppID or payload did not check out."""


class CallbackCodec:
    def __init__(self, *, token: str, aes_key: str, appid: str) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None

    def verify_url(self, *, signature: str, timestamp: str, nonce: str) -> None:
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise BadCallback("bad signature") from None

    def open(self, *, body: bytes, args: dict[str, str]) -> dict[str, Any]:
        """The message as a dict, after checking its signature (and decrypting it in safe mode)."""
        text = body.decode("utf-8", "replace")
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
        else:
            self.verify_url(signature=args.get("signature", ""), timestamp=args.get("timestamp", ""),
                            nonce=args.get("nonce", ""))
        try:
            return xmltodict.parse(text)["xml"]
        except Exception:  # noqa: BLE001
            raise BadCallback("not a WeChat XML message") from None
