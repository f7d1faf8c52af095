"""Telling people: every event lands in the in-app inbox, and, when the user has granted a
one-time subscription for the template, in the WeChat outbox too. Both rows are written in the
caller's transaction, so a rolled-back request tells nobody anything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.exceptions import IntegrityError

from config.data import NOTIFICATION_TEMPLATES
from config.settings import template_ids
from models import Notification, OutboxMessage, SubscriptionQuota, User, UserRole
from server import sql
from server.clock import CHINA_TZ
from server.errors import ValidationFailed
from server.wechat import values

log = logging.getLogger("haibei.notify")

# Each event's template, with the id configured for it (HAIBEI_TEMPLATE_…; config.settings.load
# refuses a production start while one is a placeholder), read from the same environment.
_IDS = template_ids()
TEMPLATES: dict[str, dict[str, Any]] = {event: {**spec, "template_id": _IDS[spec["template_id"]]}
                                        for event, spec in NOTIFICATION_TEMPLATES.items()}
TEMPLATE_IDS = frozenset(t["template_id"] for t in TEMPLATES.values())


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def render(event: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """Title, body, page and WeChat fields of ``event`` filled from ``ctx`` (missing keys blank).

    Each field is made into a value WeChat takes for its kind (server/wechat/values.py): a name
    with digits or a mask ("志愿者4号", "赵**") as "志某某", a long text cut, emoji dropped. The
    inbox's title and body keep the words as they are."""
    spec = TEMPLATES[event]
    text = defaultdict(str, {k: _text(v) for k, v in ctx.items()})
    return {
        "template_id": spec["template_id"],
        "title": spec["title"],
        "body": spec["body"].format_map(text)[:300],
        "page": spec["page"].format_map(text),
        "fields": {key: values.fit(key, pattern.format_map(text)) for key, pattern in spec["fields"].items()},
    }


async def notify(*, user_id: int | None, event: str, ctx: dict[str, Any], now: datetime) -> Notification | None:
    """Write the inbox row, and an outbox row if the user can receive this template."""
    return (await notify_many([(user_id, event, ctx)], now=now))[0]


async def notify_many(items: list[tuple[int | None, str, dict[str, Any]]], *, now: datetime,
                      recipients: dict[int, str | None] | None = None,
                      granted: set[int] | None = None) -> list[Notification | None]:
    """``notify`` for each ``(user_id, event, ctx)`` in a fixed number of statements, whatever
    their number: the inbox rows in one insert, the recipients read at once, their quotas locked
    and spent, the outbox rows in one insert. Returns each item's inbox row (None: no account).

    A caller that has read the recipients in its transaction may say what it saw: ``recipients``,
    each user's openid (None: inactive or without one), and ``granted``, the users who had a
    consent left for their message's template. A user not granted is then not locked or spent:
    a consent committed after that read counts as given after this message."""
    out: list[Notification | None] = []
    written: list[tuple[Notification, dict[str, Any]]] = []
    for user_id, event, ctx in items:
        if user_id is None:
            out.append(None)  # a household kept by a worker, with no account: the station sees it anyway
            continue
        msg = render(event, ctx)
        notification = sql.new(Notification, user_id=user_id, event=event, title=msg["title"], body=msg["body"],
                                page=msg["page"], data={k: _text(v) for k, v in ctx.items()}, created_at=now)
        written.append((notification, msg))
        out.append(notification)
    if not written:
        return out
    await sql.insert_many([n for n, _ in written])
    if recipients is None:
        users = sorted({n.user_id for n, _ in written})
        recipients = {row["id"]: row["openid"] for row in await sql.rows(
            f"SELECT id, openid FROM {User._meta.db_table} WHERE id IN ({sql.placeholders(users)}) AND status = 'active'",
            users)}
    openids = {user: openid for user, openid in recipients.items() if openid}
    sendable = [(n, msg) for n, msg in written if n.user_id in openids and (granted is None or n.user_id in granted)]
    if not sendable:
        return out
    # One-time subscriptions: one send per consent. The decrement and the outbox row commit together.
    holders = sorted({n.user_id for n, _ in sendable})
    templates = sorted({msg["template_id"] for _, msg in sendable})
    quotas = {(row["user_id"], row["template_id"]): row for row in await sql.rows(
        f"SELECT id, user_id, template_id, remaining FROM {SubscriptionQuota._meta.db_table}"
        f" WHERE user_id IN ({sql.placeholders(holders)}) AND template_id IN ({sql.placeholders(templates)})"
        f" AND remaining > 0 ORDER BY id" + sql.for_update(), holders + templates)}
    spent: dict[int, dict[str, int]] = {}
    outbox = []
    for notification, msg in sendable:
        quota = quotas.get((notification.user_id, msg["template_id"]))
        if quota is None or quota["remaining"] <= 0:
            continue
        quota["remaining"] -= 1
        spent[quota["id"]] = {"remaining": quota["remaining"]}
        outbox.append(sql.new(OutboxMessage, notification_id=notification.id, user_id=notification.user_id,
                              openid=openids[notification.user_id], template_id=msg["template_id"],
                              page=msg["page"], data=msg["fields"], next_attempt_at=now, created_at=now))
    await sql.update_many(SubscriptionQuota, spent)
    await sql.insert_many(outbox, want_ids=False)
    return out


async def notify_station_workers(*, station_id: int, event: str, ctx: dict[str, Any], now: datetime) -> None:
    workers = await UserRole.filter(role="worker", station_id=station_id).values_list("user_id", flat=True)
    await notify_many([(user_id, event, ctx) for user_id in workers], now=now)


async def notify_org_staff(*, organization_id: int, event: str, ctx: dict[str, Any], now: datetime,
                           but: int | None = None) -> None:
    """Every staff member of the organisation, except ``but`` (the one whose doing it is)."""
    staff = await UserRole.filter(role="org_staff", organization_id=organization_id).values_list("user_id", flat=True)
    await notify_many([(user_id, event, ctx) for user_id in staff if user_id != but], now=now)


async def grant(*, user_id: int, accepted: list[str], rejected: list[str]) -> dict[str, int]:
    """Record what wx.requestSubscribeMessage returned: each accepted template is one more send.

    Ids this server does not know (a mini-program released ahead of the server's templates, or one
    retired since) are left out; the consents the person gave for the others still count. Only a
    request naming nothing known is refused."""
    unknown = [t for t in accepted + rejected if t not in TEMPLATE_IDS]
    if unknown and len(unknown) == len(accepted) + len(rejected):
        raise ValidationFailed("未知的消息模板", details=[{"field": "accepted", "type": "unknown_template", "ids": unknown[:5]}])
    if unknown:
        log.warning("subscription names unknown templates", extra={"ids": unknown[:5]})
    for template_id in (t for t in accepted if t in TEMPLATE_IDS):
        if not await SubscriptionQuota.filter(user_id=user_id, template_id=template_id).update(remaining=F("remaining") + 1):
            try:
                await SubscriptionQuota.create(user_id=user_id, template_id=template_id, remaining=1)
            except IntegrityError:
                await SubscriptionQuota.filter(user_id=user_id, template_id=template_id).update(remaining=F("remaining") + 1)
    return dict(await SubscriptionQuota.filter(user_id=user_id).values_list("template_id", "remaining"))


async def forget_recipient(*, user_id: int) -> None:
    """The user closed their account (PIPL art. 47): what they were told goes, inbox and outbox
    alike (both keep the message's values: their name, pickup codes, reasons). Nothing still
    waiting is sent to the person who left, no row keeps their openid, and their consents go."""
    await Notification.filter(user_id=user_id).delete()
    # Through the (user_id) index: only this user's rows are locked, not the workers' or other
    # senders'. A worker sending one of these right now finds its row gone when marking it, and stops.
    await OutboxMessage.filter(user_id=user_id).delete()
    await SubscriptionQuota.filter(user_id=user_id).delete()


async def give_back(*, user_id: int, template_id: str) -> None:
    """A message WeChat refused did not spend the user's consent: it counts again."""
    await SubscriptionQuota.filter(user_id=user_id, template_id=template_id).update(remaining=F("remaining") + 1)


async def take_back(*, user_id: int, template_id: str) -> None:
    """A refused message is sent again: it spends a consent again, if one is left."""
    await SubscriptionQuota.filter(user_id=user_id, template_id=template_id, remaining__gt=0).update(
        remaining=F("remaining") - 1)


async def inbox(*, user_id: int, cursor: int | None, limit: int) -> tuple[list[Notification], int | None, int]:
    qs = Notification.filter(user_id=user_id)
    if cursor:
        qs = qs.filter(id__lt=cursor)
    rows = await qs.order_by("-id").limit(limit + 1)
    unread = await Notification.filter(user_id=user_id, read_at__isnull=True).count()
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None, unread


async def mark_read(*, user_id: int, ids: list[int] | None, now: datetime) -> int:
    qs = Notification.filter(user_id=user_id, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return await qs.update(read_at=now)


def present(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "event": n.event, "title": n.title, "body": n.body, "page": n.page,
            "read": n.read_at is not None, "created_at": n.created_at}


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0, jitter: float = 0.0) -> timedelta:
    """Exponential backoff: 30 s, 60 s, 120 s … up to an hour, plus the given jitter."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)) + jitter)
