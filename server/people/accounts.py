"""Accounts: WeChat login and phone binding (closing one: server.lifecycle.closing)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from tortoise.exceptions import IntegrityError

from models import User, UserRole, WechatSession
from server import audit, feed
from server.errors import DomainError, TokenInvalid, WeChatRejected, WeChatUnavailableError
from server.pii import FieldCipher, mask_phone, normalize_phone
from server.wechat import WeChatError, WeChatGateway, WeChatUnavailable

log = logging.getLogger("haibei.accounts")

SESSION_KEY_CONTEXT = "wechat_session.session_key"
USER_PHONE_CONTEXT = "user.phone"

# WeChat errcodes that mean "this code is no good", as opposed to "WeChat is down". Not 45011
# (too many calls for this user, "请稍候再试"): the code is fine and authorising again at once
# only hits the limit again, so it is the try-again-later WECHAT_UNAVAILABLE.
_CODE_REJECTED = {40029, 40163}
# 40226: WeChat itself stops this WeChat account from logging in to mini-programs (a high-risk
# account). Asking the person to authorise again would only loop; they must settle it with WeChat.
_USER_BLOCKED = 40226


class WeChatUserBlocked(DomainError):
    status = 403
    code = "WECHAT_USER_BLOCKED"
    message = "您的微信账号暂时无法登录小程序,请在微信中处理账号安全提示后再试"


class PhoneInvalid(DomainError):
    status = 400
    code = "PHONE_INVALID"
    message = "手机号无效"


async def wechat_code_to_session(*, wechat: WeChatGateway, code: str) -> dict:
    """Exchange a wx.login code; map WeChat failures to our errors. Runs outside any transaction."""
    try:
        return await wechat.code_to_session(code=code)
    except WeChatUnavailable:
        raise WeChatUnavailableError() from None
    except WeChatError as exc:
        if exc.errcode in _CODE_REJECTED:
            raise WeChatRejected() from None
        if exc.errcode == _USER_BLOCKED:
            raise WeChatUserBlocked() from None
        log.warning("code2Session failed", extra={"errcode": exc.errcode})
        raise WeChatUnavailableError() from None


async def login(*, session: dict, cipher: FieldCipher, admin_openids: tuple[str, ...]) -> User:
    """Find or create the user for a code2Session result and store its session key encrypted.

    Unlike other services this runs as a few idempotent autocommit steps, not one transaction:
    a double-tapped first login makes two requests insert the same openid at once, and inside
    transactions the loser's duplicate-key error leaves it holding a shared lock that a second
    locking read must upgrade, which deadlocks against the other loser. Each step here is safe to
    repeat, so a request that dies half-way is completed by the next login.
    """
    openid = session["openid"]
    now = datetime.now(timezone.utc)
    user = await User.get_or_none(openid=openid)
    if user is None:
        try:
            user = await User.create(openid=openid, unionid=session.get("unionid"), last_login_at=now)
        except IntegrityError:
            user = await User.get(openid=openid)
    else:
        await User.filter(id=user.id).update(last_login_at=now)
    # Anyone may ask for help: every account is a resident (任务一, 群众点题).
    await _ensure_role(user=user, role="resident")
    if openid in admin_openids and await _ensure_role(user=user, role="admin"):
        await audit.record(actor_id=None, action="role.grant", subject_type="user", subject_id=user.id,
                           detail={"role": "admin", "source": "HAIBEI_ADMIN_OPENIDS"})
    encrypted = cipher.encrypt(session["session_key"], context=SESSION_KEY_CONTEXT)
    if not await WechatSession.filter(user_id=user.id).update(session_key_enc=encrypted):
        try:
            await WechatSession.create(user=user, session_key_enc=encrypted)
        except IntegrityError:
            await WechatSession.filter(user_id=user.id).update(session_key_enc=encrypted)
    if not await User.exists(id=user.id, status="active"):
        # Closed between the first read and these writes (close_account holds the row, so once the
        # writes are through it has committed): nothing of this login stays on the closed account,
        # and the openid, free again, starts a fresh one.
        await WechatSession.filter(user_id=user.id).delete()
        await UserRole.filter(user_id=user.id).delete()
        return await login(session=session, cipher=cipher, admin_openids=admin_openids)
    feed.changed("user", user.id)
    return user


async def _ensure_role(*, user: User, role: str) -> bool:
    """Grant ``role`` unless held; True if this call granted it."""
    if await UserRole.exists(user_id=user.id, role=role):
        return False
    try:
        await UserRole.create(user=user, role=role)
    except IntegrityError:
        return False
    return True


async def fetch_phone(*, wechat: WeChatGateway, code: str) -> str:
    """Ask WeChat for the verified phone behind a getPhoneNumber code."""
    try:
        phone = await wechat.get_phone_number(code=code)
    except WeChatUnavailable:
        raise WeChatUnavailableError() from None
    except WeChatError as exc:
        if exc.errcode in _CODE_REJECTED:
            raise WeChatRejected("手机号授权已失效,请重新授权") from None
        raise WeChatUnavailableError() from None
    try:
        return normalize_phone(phone)
    except ValueError:
        raise PhoneInvalid("暂不支持非大陆手机号") from None


async def wxacode(*, wechat: WeChatGateway, scene: str, page: str = "pages/checkin/index") -> bytes:
    """A mini-program code opening ``page`` with ``scene``."""
    try:
        # check_path off: the page exists in the released mini-program, not necessarily in a trial build.
        return await wechat.get_wxa_code_unlimited(scene=scene, page=page, check_path=False)
    except WeChatUnavailable:
        raise WeChatUnavailableError() from None
    except WeChatError as exc:
        log.warning("getwxacodeunlimit failed", extra={"errcode": exc.errcode})
        raise WeChatUnavailableError() from None


async def bind_phone(*, user: User, phone: str, cipher: FieldCipher) -> User:
    """Store a WeChat-verified phone on the account."""
    if (await User.select_for_update().get(id=user.id)).status != "active":
        # Closed while this request waited on WeChat or the lock: keep nothing of theirs.
        raise TokenInvalid()
    user.phone_enc = cipher.encrypt(phone, context=USER_PHONE_CONTEXT)
    user.phone_masked = mask_phone(phone)
    await user.save(update_fields=["phone_enc", "phone_masked"])
    feed.changed("user", user.id)
    return user


def present_user(*, user: User, roles: dict) -> dict:
    """The account as the mini-program sees it; roles are read fresh, not from the token."""
    worker = roles.get("worker")
    staff = roles.get("org_staff")
    district = roles.get("district_admin")
    return {
        "id": user.id,
        "roles": sorted(roles),
        "station_id": worker.station_id if worker else None,
        "organization_id": staff.organization_id if staff else None,
        "district_id": district.district_id if district else None,
        "phone": user.phone_masked,
    }
