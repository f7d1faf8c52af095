"""Logging in to the staff console without a password: a code on the screen that a worker or an
administrator scans with the mini-program and approves, and the one-time links an operator hands
the first administrator of a new installation (scripts/create_admin).

A **ticket** is a random token shown to one browser as a mini-program code whose ``scene`` is
``cl=<token>`` (the household plates' scenes start with ``h``, server/workflow/plates.py). It lives
in Redis for ``TICKET_SECONDS``, with the digest of a random nonce the browser keeps in an HttpOnly
cookie: reading the code off the screen, or the ticket off a URL, is not enough to collect the
session an approval opens. The approval is one ``SET NX`` of the ticket's approval key, so of two
approvals of one ticket exactly one wins; the browser's poll that finds it approved deletes the
ticket, and only the poll whose ``DEL`` removed it gets the session.

A **link** is a random token an operator prints for an account; Redis keeps its digest for
``LINK_SECONDS`` and ``GETDEL`` takes it, once. Both stop working when the account's token version
moves (the account closed), as its tokens and sessions do. Neither is the only copy of anything:
losing Redis loses pending logins, which the person starts again (decisions/0018).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from models import User
from server.actors import Actor
from server.errors import DomainError, Forbidden
from server.people import accounts
from server.wechat import WeChatGateway

SCENE_PREFIX = "cl="
# The mini-program page the code opens: it asks "在电脑上登录工作台?" and approves the ticket.
PAGE = "pages/console-login/index"
TICKET_SECONDS = 120
# An approval comes in at the last second of a ticket's life at worst: the browser's next polls,
# 2 s apart, still collect it for this long after the ticket would have expired.
COLLECT_SECONDS = 30
LINK_SECONDS = 24 * 3600
# An account an operator makes for the console alone (scripts/create_admin --label) has no WeChat
# account behind it: its openid column holds this prefix and the label. No WeChat openid has a
# colon, so no login through WeChat can ever reach it; only links can.
CONSOLE_ONLY = "console:"

# token_urlsafe(21): 28 characters, 168 bits; with the prefix 31 of the 32 a scene may hold, each
# of them among those WeChat allows (0-9a-zA-Z and -_ here).
_TICKET = re.compile(r"[A-Za-z0-9_-]{28}")
# token_urlsafe(32): the browser's nonce and a link's token.
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_LABEL = re.compile(r"[\w.-]{1,40}")


class TicketExpired(DomainError):
    status = 410
    code = "TICKET_EXPIRED"
    message = "二维码已过期,请在电脑上刷新二维码后重新扫码"


class TicketUsed(DomainError):
    status = 410
    code = "TICKET_USED"
    message = "该二维码已确认登录,无需重复确认"


class NotStaff(Forbidden):
    message = "只有驿站工作人员和管理员可以登录工作台"


@dataclass(frozen=True)
class NewTicket:
    token: str  # in the page's own URLs
    scene: str  # in the mini-program code
    browser: str  # the nonce for the browser's cookie; Redis keeps only its digest


@dataclass(frozen=True)
class Poll:
    """Where a browser's ticket stands: ``pending``, ``approved`` (with the user to log in, the
    ticket now used up) or ``gone`` (expired, used, unknown, or not this browser's: alike)."""

    state: str
    user: User | None = None


PENDING, GONE = Poll("pending"), Poll("gone")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _ticket_key(prefix: str, token: str) -> str:
    return f"{prefix}console-ticket:{_digest(token)}"


def _approval_key(prefix: str, token: str) -> str:
    return _ticket_key(prefix, token) + ":approved"


def _link_key(prefix: str, token: str) -> str:
    return f"{prefix}console-link:{_digest(token)}"


def _secret(value: str | None) -> str | None:
    return value if value and _SECRET.fullmatch(value) else None


def ticket_token(value: str | None) -> str | None:
    """The ticket of a scanned scene (``cl=<token>``) or of a page's URL (the token alone), or None."""
    token = (value or "").removeprefix(SCENE_PREFIX)
    return token if _TICKET.fullmatch(token) else None


def console_only_openid(label: str) -> str:
    """What the openid column holds for the console-only account an operator calls ``label``."""
    if not _LABEL.fullmatch(label):
        raise ValueError("a label is 1 to 40 letters, digits, '.', '_' or '-'")
    return CONSOLE_ONLY + label


# --- tickets ----------------------------------------------------------------------------------


async def create_ticket(*, redis, prefix: str, browser: str | None, now: datetime) -> NewTicket:
    """A pending ticket for the browser whose cookie holds ``browser`` (a new nonce if it holds
    none: a second tab keeps the first one's, so both can log in)."""
    browser = _secret(browser) or secrets.token_urlsafe(32)
    token = secrets.token_urlsafe(21)
    record = {"browser": _digest(browser), "expires_at": now.timestamp() + TICKET_SECONDS}
    await redis.set(_ticket_key(prefix, token), json.dumps(record), ex=TICKET_SECONDS + COLLECT_SECONDS)
    return NewTicket(token=token, scene=SCENE_PREFIX + token, browser=browser)


async def _browsers_ticket(redis, prefix: str, token: str | None, browser: str | None) -> dict | None:
    """The ticket ``token`` if it is there and was made for the browser holding ``browser``."""
    browser = _secret(browser)
    if token is None or browser is None:
        return None
    raw = await redis.get(_ticket_key(prefix, token))
    if raw is None:
        return None
    record = json.loads(raw)
    return record if hmac.compare_digest(record["browser"], _digest(browser)) else None


async def code_image(*, redis, prefix: str, wechat: WeChatGateway, token: str | None, browser: str | None,
                     now: datetime) -> bytes:
    """The mini-program code (PNG) of the browser's pending ticket."""
    token = ticket_token(token)
    record = await _browsers_ticket(redis, prefix, token, browser)
    if record is None or now.timestamp() >= record["expires_at"]:
        raise TicketExpired()
    return await accounts.wxacode(wechat=wechat, scene=SCENE_PREFIX + token, page=PAGE)


def check_may_approve(actor: Actor) -> None:
    """Only the console's own people let a browser in: station workers and administrators (the
    city's and the districts')."""
    if not (actor.has("worker") or actor.has("admin") or actor.has("district_admin")):
        raise NotStaff()


async def approve(*, redis, prefix: str, actor: Actor, ticket: str, now: datetime) -> None:
    """``actor`` lets in the browser waiting on ``ticket`` (a scanned scene): the first approval
    wins, any later one is told the code is used."""
    check_may_approve(actor)
    token = ticket_token(ticket)
    raw = await redis.get(_ticket_key(prefix, token)) if token else None
    if raw is None or now.timestamp() >= json.loads(raw)["expires_at"]:
        raise TicketExpired()
    approval = {"user_id": actor.id, "token_version": actor.user.token_version}
    # The ticket's status moves pending -> approved here and nowhere else: SET NX decides who wins.
    won = await redis.set(_approval_key(prefix, token), json.dumps(approval), nx=True,
                          ex=TICKET_SECONDS + COLLECT_SECONDS)
    if not won:
        raise TicketUsed()


async def poll(*, redis, prefix: str, token: str | None, browser: str | None, now: datetime) -> Poll:
    """Where the browser's ticket stands. The poll that finds it approved uses it up and gets the
    user; every later poll, and any poll of another browser, finds it gone."""
    token = ticket_token(token)
    record = await _browsers_ticket(redis, prefix, token, browser)
    if record is None:
        return GONE
    key, approval_key = _ticket_key(prefix, token), _approval_key(prefix, token)
    approved = await redis.get(approval_key)
    at = now.timestamp()
    if approved is None and at < record["expires_at"]:
        return PENDING
    if approved is None or at >= record["expires_at"] + COLLECT_SECONDS:
        await redis.delete(key, approval_key)
        return GONE
    if not await redis.delete(key):
        return GONE  # another poll of this browser took it a moment ago
    await redis.delete(approval_key)
    approval = json.loads(approved)
    # Closed since it approved: its token version moved, and no session opens for it.
    user = await User.get_or_none(id=approval["user_id"], status="active", token_version=approval["token_version"])
    return Poll("approved", user) if user is not None else GONE


# --- links ------------------------------------------------------------------------------------


async def issue_link(*, redis, prefix: str, user: User, now: datetime) -> str:
    """A one-time console login for ``user``, valid for ``LINK_SECONDS``: the token for its URL."""
    token = secrets.token_urlsafe(32)
    record = {"user_id": user.id, "token_version": user.token_version, "expires_at": now.timestamp() + LINK_SECONDS}
    await redis.set(_link_key(prefix, token), json.dumps(record), ex=LINK_SECONDS)
    return token


async def _link_user(raw: str | None, now: datetime) -> User | None:
    if raw is None:
        return None
    record = json.loads(raw)
    if now.timestamp() >= record["expires_at"]:
        return None
    return await User.get_or_none(id=record["user_id"], status="active", token_version=record["token_version"])


async def link_is_live(*, redis, prefix: str, token: str | None, now: datetime) -> bool:
    """Whether the link ``token`` would still log someone in; it stays unused."""
    token = _secret(token)
    return token is not None and await _link_user(await redis.get(_link_key(prefix, token)), now) is not None


async def use_link(*, redis, prefix: str, token: str | None, now: datetime) -> User | None:
    """The user the link ``token`` logs in, the link used up; None if it is unknown, used or expired."""
    token = _secret(token)
    if token is None:
        return None
    return await _link_user(await redis.getdel(_link_key(prefix, token)), now)
