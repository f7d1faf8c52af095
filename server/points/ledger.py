"""The points ledger: the only writer of ``points_entries`` and ``points_accounts``.

Every credit or debit is one call to ``post`` (or ``post_all``, which also returns the netting
entry described below): it locks the account row by primary key, appends an
entry carrying the resulting balance, and updates the balance in the same transaction. A balance
never goes below zero: a debit that does not fit is refused, except a reversal, whose remainder is
recorded as ``owed``. Every credit to an account that owes (an award, a refund, a positive
adjustment) pays the debt first, inside ``post_all``, so ``owed > 0`` implies ``balance == 0``: points
taken back can't come back as spendable through a refund.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.functions import Sum

from config.data import POINTS_RULES
from models import Need, PointsAccount, PointsEntry, PointsRules, Redemption, Reward, Service, Task, TaskClaim, User, VolunteerProfile
from server import labels, sql, transactions
from server.clock import CHINA_TZ
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.notifications import notify
from server.idempotency import KeyReused
from server.points import leaderboard
from server.reference import catalogue


class InsufficientPoints(Conflict):
    code = "INSUFFICIENT_POINTS"
    message = "积分不足"


class DuplicateEntry(Conflict):
    code = "DUPLICATE_LEDGER_ENTRY"
    message = "该笔积分已记录"


class AccountClosed(Conflict):
    code = "ACCOUNT_CLOSED"
    message = "该用户已注销账户,不能调整积分"


class OwnAccount(Forbidden):
    code = "OWN_ACCOUNT"
    message = "不能调整本人的积分,请由其他管理员操作"


class AlreadyReversed(Conflict):
    code = "ALREADY_REVERSED"
    message = "该笔积分已撤销"


# By hand (server/sql.py): the ORM building this lookup cost more than the rest of GET /points/me.
_ACCOUNT = sql.Statement(lambda: f"SELECT {sql.columns(PointsAccount, 'a')} FROM {PointsAccount._meta.db_table} a"
                                 " WHERE a.user_id = %s")


async def account_for(*, user_id: int) -> PointsAccount:
    """The user's account, created on first use; concurrent creators end with one row."""
    found = await sql.rows(_ACCOUNT, [user_id])
    account = sql.hydrate(PointsAccount, found[0]) if found else None
    if account is None:
        try:
            account = await PointsAccount.create(user_id=user_id)
        except IntegrityError:
            account = await PointsAccount.get(user_id=user_id)
    return account


async def lock(*, user_id: int) -> PointsAccount:
    """The account, row-locked for the rest of the transaction.

    The locking read comes first, with no plain read before it: MariaDB's REPEATABLE READ takes a
    transaction's snapshot at its first plain read, and a snapshot older than the lock would hide
    what the previous holder committed (an idempotency record, a redemption). Accounts are
    created when a volunteer is approved; one still missing is created here.
    """
    account = await PointsAccount.select_for_update().get_or_none(user_id=user_id)
    if account is None:
        created = await account_for(user_id=user_id)
        account = await PointsAccount.select_for_update().get(id=created.id)
    return account


async def post(
    *, account: PointsAccount, amount: int, kind: str, key: str, now: datetime, ref_type: str | None = None,
    ref_id: int | None = None, actor_id: int | None = None, reason: str | None = None, minutes: int = 0,
) -> PointsEntry:
    """Append one entry to a locked account (see ``post_all``); returns that entry."""
    return (await post_all(account=account, amount=amount, kind=kind, key=key, now=now, ref_type=ref_type,
                           ref_id=ref_id, actor_id=actor_id, reason=reason, minutes=minutes))[0]


async def post_all(
    *, account: PointsAccount, amount: int, kind: str, key: str, now: datetime, ref_type: str | None = None,
    ref_id: int | None = None, actor_id: int | None = None, reason: str | None = None, minutes: int = 0,
) -> list[PointsEntry]:
    """Append one entry to a locked account, and for a credit while it owes, the netting entry.

    Debits that would overdraw are refused. A credit of any kind first pays back ``owed``: a
    ``reversal`` entry of what the new balance can cover, keyed by the credit's entry, so it happens
    once per credit. Returns the entries written, the credit's first; the leaderboards are fed
    them once the transaction commits.
    """
    entry = await _append(account=account, amount=amount, kind=kind, key=key, now=now, ref_type=ref_type,
                          ref_id=ref_id, actor_id=actor_id, reason=reason, minutes=minutes)
    posted = [entry]
    if amount > 0 and account.owed:
        settle = min(account.owed, account.balance)
        account.owed -= settle
        posted.append(await _append(account=account, amount=-settle, kind="reversal", key=f"owed:{entry.id}",
                                    now=now, ref_type=ref_type, ref_id=ref_id, actor_id=None,
                                    reason="netting earlier reversal", minutes=0))
    transactions.after_commit(leaderboard.feed, posted)
    return posted


async def _append(
    *, account: PointsAccount, amount: int, kind: str, key: str, now: datetime, ref_type: str | None,
    ref_id: int | None, actor_id: int | None, reason: str | None, minutes: int,
) -> PointsEntry:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValidationFailed("积分须为整数", details=[{"field": "amount", "type": "int"}])
    if account.balance + amount < 0:
        raise InsufficientPoints(details={"balance": account.balance, "amount": amount})
    account.balance += amount
    if amount > 0 and kind in ("service_award", "bonus", "adjustment"):
        account.earned += amount
    if kind == "redemption":
        account.spent += -amount
    elif kind == "redemption_refund":
        account.spent -= amount
    elif kind == "reversal" and amount < 0:
        account.earned += amount
    account.verified_minutes += minutes
    try:
        entry = await PointsEntry.create(
            account_id=account.id, amount=amount, kind=kind, ref_type=ref_type, ref_id=ref_id,
            idempotency_key=key, actor_id=actor_id, reason=reason, minutes=minutes,
            balance_after=account.balance, created_at=now,
        )
    except IntegrityError:
        raise DuplicateEntry(details={"key": key}) from None
    await PointsAccount.filter(id=account.id).update(
        balance=account.balance, earned=account.earned, spent=account.spent, owed=account.owed,
        verified_minutes=account.verified_minutes, award_count=account.award_count, cap_day=account.cap_day,
        cap_day_points=account.cap_day_points,
    )
    return entry


# ---- earning rules --------------------------------------------------------------------------


async def current_rules() -> dict[str, Any]:
    """The rules in force: the newest published version, else the shipped defaults."""
    row = await PointsRules.all().order_by("-version").first()
    return row.rules if row else POINTS_RULES


async def rules_versions() -> list[PointsRules]:
    """Every stored version of the earning rules, newest first."""
    return await PointsRules.all().order_by("-version")


async def store_shipped_rules() -> None:
    """Store the shipped defaults as the first version if they are not yet: the row publishers lock.

    Call it outside the publishing transaction. A concurrent first publish then loses only this
    statement (a duplicate, ignored), and no transaction is left holding the shared lock InnoDB
    takes on the duplicate row, which two such losers would both try to upgrade: a deadlock.
    """
    if not await PointsRules.exists(version=POINTS_RULES["version"]):
        try:
            await PointsRules.create(version=POINTS_RULES["version"], rules=POINTS_RULES, created_by=None)
        except IntegrityError:
            pass  # another publisher stored it first


async def publish_rules(*, rules: dict[str, Any], actor_id: int) -> PointsRules:
    """Publish a new version of the earning rules (older awards keep their amounts).

    Publishers queue on the shipped version's row (``store_shipped_rules`` first), so each reads the
    newest committed version and gets the next one: concurrent publishes all succeed, in turn.
    """
    await PointsRules.select_for_update().get(version=POINTS_RULES["version"])
    latest = await PointsRules.select_for_update().order_by("-version").first()
    version = latest.version + 1
    return await PointsRules.create(version=version, rules={**rules, "version": version}, created_by=actor_id)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def award_for_claim(
    *, claim: TaskClaim, task: Task, need: Need, volunteer: VolunteerProfile, actor_id: int, now: datetime,
) -> tuple[int, list[PointsEntry]]:
    """Credit a confirmed claim under the rules in force, once (the key is the claim).

    Per verified hour of the service, at least ``min_per_service``; ``urgent_bonus`` for urgent
    needs; ``first_service_bonus`` for a volunteer's first award; everything beyond ``daily_cap``
    on the volunteer's day (Weihai calendar) is not credited. Returns the amount credited.
    """
    rules = await current_rules()
    service = await Service.get(code=task.service_id)
    # The district's own points for the service (任务五: districts set their standards), else the
    # city's rules, else the catalogue's.
    standard = await catalogue.standard_at(code=service.code, station_id=task.station_id)
    if standard is not None and standard.points_per_hour is not None:
        per_hour = standard.points_per_hour
    else:
        per_hour = int(rules.get("points_per_hour", {}).get(service.code, service.points_per_hour))
    minutes = claim.verified_minutes or 0
    base = max(_round(Decimal(per_hour) * minutes / 60), int(rules.get("min_per_service", 0)))
    account = await lock(user_id=volunteer.user_id)
    amount = base
    if need.urgency == "urgent":
        amount += int(rules.get("urgent_bonus", 0))
    if account.award_count == 0:
        amount += int(rules.get("first_service_bonus", 0))
    day = now.astimezone(CHINA_TZ).strftime("%Y%m%d")
    credited_today = account.cap_day_points if account.cap_day == day else 0
    cap = rules.get("daily_cap")
    if cap is not None:
        amount = max(0, min(amount, int(cap) - credited_today))
    account.award_count += 1
    account.cap_day = day
    account.cap_day_points = credited_today + amount
    # What an earlier reversal could not take back is netted inside post_all.
    entries = await post_all(account=account, amount=amount, kind="service_award", key=f"award:claim:{claim.id}",
                             now=now, ref_type="claim", ref_id=claim.id, actor_id=actor_id, minutes=minutes,
                             reason=f"task {task.id}")
    return amount, entries


async def reverse(*, entry_id: int, actor_id: int, reason: str, now: datetime) -> list[PointsEntry]:
    """Take back a service award: a new negative entry; what the balance can't cover becomes owed."""
    original = await PointsEntry.get_or_none(id=entry_id)
    if original is None or original.kind not in ("service_award", "bonus"):
        raise NotFound("积分记录不存在或不可撤销")
    account = await PointsAccount.select_for_update().get(id=original.account_id)
    if await PointsEntry.filter(idempotency_key=f"reversal:{entry_id}").exists():
        raise AlreadyReversed()
    take = min(original.amount, account.balance)
    account.owed += original.amount - take
    posted = [await post(account=account, amount=-take, kind="reversal", key=f"reversal:{entry_id}", now=now,
                         ref_type="entry", ref_id=entry_id, actor_id=actor_id, reason=reason,
                         minutes=-original.minutes)]
    # Points and verified hours (reported to 信用威海) go: the volunteer is told, and why.
    await notify.notify(user_id=account.user_id, event="points_reversed", now=now,
                        ctx={"points": original.amount, "reason": reason, "at": now})
    return posted


def counted_claims():
    """The confirmed claims whose service still counts, as a queryset: less those whose service
    award was reversed. The claim itself stays ``confirmed`` with its minutes and points (the ledger
    is append-only); what took them back is a ``reversal:<award entry id>`` entry. Ledgers,
    statistics and the credit export count these, as the account's verified minutes do."""
    reversed_awards = PointsEntry.filter(kind="reversal", ref_type="entry",
                                         idempotency_key__startswith="reversal:").values("ref_id")
    reversed_claims = PointsEntry.filter(kind="service_award", ref_type="claim",
                                         id__in=Subquery(reversed_awards)).values("ref_id")
    return TaskClaim.filter(status="confirmed").exclude(id__in=Subquery(reversed_claims))


async def check_adjust(*, user_id: int, actor_id: int) -> None:
    """The user to adjust must exist (else a payload error) and not be the administrator doing
    it (nobody credits themself); their account is made ready.

    Call it before the transaction, so that locking the account is the transaction's first read
    (see ``lock``) and an idempotency record committed by a retry's predecessor is seen.
    """
    if user_id == actor_id:
        raise OwnAccount()
    status = await User.filter(id=user_id).values_list("status", flat=True)
    if not status:
        raise ValidationFailed("用户不存在", details=[{"field": "user_id", "type": "unknown_reference"}])
    if status[0] != "active":
        # Closed (PIPL art. 47): nobody can spend or see these points any more.
        raise AccountClosed()
    await account_for(user_id=user_id)


async def adjust(*, account: PointsAccount, amount: int, reason: str, actor_id: int, now: datetime,
                 request_key: str | None = None) -> list[PointsEntry]:
    """A hand correction by an administrator on a locked account; a credit pays any debt first.

    With the request's Idempotency-Key the entry's key is the administrator's and that key's, so
    one key can move points once. The caller replays a retry from the idempotency record before
    calling this; a duplicate here is the same key sent at the same time for another user.
    """
    if request_key is None:
        key = f"adjust:{uuid.uuid4().hex}"
    else:
        key = f"adjust:{actor_id}:{hashlib.sha256(request_key.encode()).hexdigest()[:40]}"
    try:
        return await post_all(account=account, amount=amount, kind="adjustment", key=key, now=now, ref_type="user",
                              ref_id=account.user_id, actor_id=actor_id, reason=reason)
    except DuplicateEntry:
        raise KeyReused() from None


# ---- reading ------------------------------------------------------------------------------


def present_account(account: PointsAccount) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "balance": account.balance,
        "earned": account.earned,
        "spent": account.spent,
        "owed": account.owed,
        "verified_minutes": account.verified_minutes,
        "verified_hours": math.floor(account.verified_minutes / 6) / 10,
    }


def present_entry(entry: PointsEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "amount": entry.amount, "kind": entry.kind, "ref_type": entry.ref_type,
        "ref_id": entry.ref_id, "reason": entry.reason, "minutes": entry.minutes,
        # What the volunteer reads: the kind and the reason in words (the fields above are the record's).
        "kind_label": labels.label("points_kind", entry.kind), "reason_text": labels.points_reason(entry.reason, entry.kind),
        "balance_after": entry.balance_after, "created_at": entry.created_at,
    }


async def entries(*, account: PointsAccount, cursor: int | None, limit: int) -> tuple[list[PointsEntry], int | None]:
    """Newest first, by id cursor."""
    qs = PointsEntry.filter(account_id=account.id)
    if cursor:
        qs = qs.filter(id__lt=cursor)
    rows = await qs.order_by("-id").limit(limit + 1)
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


async def accounts_for_station(*, station_id: int | None) -> list[PointsAccount]:
    """Accounts of a station's volunteers (None: every account, for administrators)."""
    qs = PointsAccount.all()
    if station_id is not None:
        user_ids = await VolunteerProfile.filter(station_id=station_id).values_list("user_id", flat=True)
        qs = qs.filter(user_id__in=list(user_ids))
    return await qs.order_by("-balance", "id").limit(500)


# ---- reconciliation ------------------------------------------------------------------------


async def reconcile() -> list[dict[str, Any]]:
    """Every difference between stored balances/stock and what the entries/redemptions say."""
    problems: list[dict[str, Any]] = []
    sums = {
        row["account_id"]: row
        for row in await PointsEntry.all().group_by("account_id").annotate(total=Sum("amount"), mins=Sum("minutes"))
        .values("account_id", "total", "mins")
    }
    for account in await PointsAccount.all():
        total = int(sums.get(account.id, {}).get("total") or 0)
        mins = int(sums.get(account.id, {}).get("mins") or 0)
        last = await PointsEntry.filter(account_id=account.id).order_by("-id").first()
        if account.balance != total:
            problems.append({"account_id": account.id, "field": "balance", "stored": account.balance, "from_entries": total})
        if last is not None and last.balance_after != account.balance:
            problems.append({"account_id": account.id, "field": "balance_after", "stored": account.balance,
                             "last_entry": last.balance_after})
        if account.verified_minutes != mins:
            problems.append({"account_id": account.id, "field": "verified_minutes", "stored": account.verified_minutes,
                             "from_entries": mins})
        if account.balance < 0:
            problems.append({"account_id": account.id, "field": "balance", "stored": account.balance, "problem": "negative"})
    for reward in await Reward.all():
        held = await Redemption.filter(reward_id=reward.id, status__in=("pending", "fulfilled")).count()
        if reward.stock != reward.total_stock - held:
            problems.append({"reward_id": reward.id, "field": "stock", "stored": reward.stock,
                             "expected": reward.total_stock - held})
        if reward.stock < 0:
            problems.append({"reward_id": reward.id, "field": "stock", "stored": reward.stock, "problem": "negative"})
    return problems

