"""Content security for user text (need descriptions, service summaries, rating comments).

A local word list catches the obvious; WeChat's msgSecCheck v2 is the judge. ``risky`` is refused
(422, nothing saved). ``review``, WeChat unreachable, or an author with no recent WeChat session
(msgSecCheck needs one within two hours; text typed by staff often has none) → saved and flagged
for a worker: a person in need must never be turned away by an outage, nor kept waiting by one
(the gateway pauses msgSecCheck after a run of unanswered calls, server/wechat/gateway.py).

The word list is matched on ``for_matching`` (server/text.py) of the text and of each word: so
"賭博", "赌 博" and "赌\u200b博" are caught as "赌博". msgSecCheck gets the text as it will be stored
(cleaned by the request models), not the matching form.

Text that everyone sees and nobody needs — a volunteer's display name on the leaderboards — is
held to more: ``screen_for_everyone`` keeps it only when judged clean. It would be shown city-wide
at once, with no worker between it and its readers, and refusing it turns no one away.

Health notes and other personal data are deliberately *not* sent: passing them to a third party
would need its own consent (PIPL art. 23).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.data import CONTENT_WORDS
from models import ContentFlag, User
from server.errors import DomainError, NotFound
from server.text import for_matching, word_pattern
from server.wechat import WeChatError, WeChatGateway

log = logging.getLogger("haibei.content")
SESSION_WINDOW = timedelta(hours=2)
SCENE_COMMENT = 2
# The local list in its matching form, once.
RISKY_WORDS = word_pattern(CONTENT_WORDS)


class ContentRisky(DomainError):
    status = 422
    code = "CONTENT_RISKY"
    message = "内容包含不适宜发布的信息,请修改后重试"


class ContentUnchecked(DomainError):
    status = 503
    code = "CONTENT_UNCHECKED"
    message = "暂时无法检查内容,请稍后重试"


@dataclass
class Verdict:
    flag: str | None  # None: clean; "review" | "unchecked": save and flag
    reason: str = ""


def _has_session(author: User, now: datetime) -> bool:
    """msgSecCheck needs the author's WeChat session from the last two hours."""
    return bool(author.openid and author.last_login_at and now - author.last_login_at <= SESSION_WINDOW)


async def screen(*, wechat: WeChatGateway, author: User, text: str | None, now: datetime,
                 field: str = "text") -> Verdict:
    """Judge ``text``; raises ContentRisky, else says whether to flag it. Call outside transactions."""
    if not text:
        return Verdict(None)
    if RISKY_WORDS.search(for_matching(text)):
        raise ContentRisky(details={"field": field, "source": "local"})
    if not _has_session(author, now):
        return Verdict("unchecked", "no recent WeChat session")
    try:
        result = await wechat.msg_sec_check(openid=author.openid, content=text[:2500], scene=SCENE_COMMENT)
    except WeChatError as exc:
        log.warning("msgSecCheck unavailable, text flagged for review", extra={"errcode": exc.errcode})
        return Verdict("unchecked", f"msgSecCheck unavailable ({exc.errcode})")
    if result["suggest"] == "risky":
        raise ContentRisky(details={"field": field, "source": "wechat", "label": result.get("label")})
    if result["suggest"] == "review":
        return Verdict("review", f"msgSecCheck review (label {result.get('label')})")
    return Verdict(None)


async def screen_for_everyone(*, wechat: WeChatGateway, author: User, text: str | None, now: datetime,
                              field: str = "text") -> None:
    """Judge text shown to everyone that nobody needs: anything but clean is refused (what WeChat
    would have a person review as risky; unjudged as unavailable). Call outside transactions."""
    verdict = await screen(wechat=wechat, author=author, text=text, now=now, field=field)
    if verdict.flag == "review":
        raise ContentRisky("内容可能包含不适宜公开的信息,请修改后重试", details={"field": field, "source": "wechat_review"})
    if verdict.flag == "unchecked":
        # Without a WeChat session of the last two hours msgSecCheck cannot be asked: signing in
        # again (wx.login) gives one, and the same request then passes.
        if not _has_session(author, now):
            raise ContentUnchecked("请重新进入小程序后再试", details={"field": field, "reason": "no_session"})
        raise ContentUnchecked(details={"field": field, "reason": "unavailable"})


async def flag(*, verdict: Verdict, station_id: int | None, subject_type: str, subject_id: int, field: str,
               author_id: int, now: datetime) -> None:
    """Record a flag, in the transaction that saves the text."""
    if verdict.flag:
        await ContentFlag.create(station_id=station_id, subject_type=subject_type, subject_id=subject_id, field=field,
                                 verdict=verdict.flag, reason=verdict.reason[:100], author_id=author_id, created_at=now)


async def pending_for_station(*, station_id: int) -> list[ContentFlag]:
    return await ContentFlag.filter(station_id=station_id, resolved_at__isnull=True).order_by("id")


async def resolve(*, flag_id: int, station_id: int, worker_id: int, now: datetime) -> ContentFlag:
    row = await ContentFlag.get_or_none(id=flag_id, station_id=station_id)
    if row is None:
        raise NotFound("待审内容不存在")
    await ContentFlag.filter(id=flag_id).update(resolved_by=worker_id, resolved_at=now)
    await row.refresh_from_db()
    return row
