"""Rewards donated by caring enterprises, units and individuals (任务四), redeemed with points.

Lock order, everywhere: the points account, then the redemption, then the reward, each by
primary key. A redemption deducts points and stock in one transaction; cancelling or expiring it
gives both back; fulfilment at a pick-up station happens once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from models import PointsAccount, PointsEntry, Redemption, Reward, Station, VolunteerProfile
from server import labels
from server.errors import Conflict, DomainError, NotFound, ValidationFailed
from server.notifications import notify
from server.pii import mask_name
from server.points import ledger

# No 0/O, 1/I/L: codes are read aloud and typed by people at a station counter.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class RewardUnavailable(Conflict):
    code = "REWARD_UNAVAILABLE"
    message = "该奖品不在兑换期内或已下架"


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    message = "奖品已兑完"


class RedemptionLimit(Conflict):
    code = "REDEMPTION_LIMIT"
    message = "已达到每人兑换上限"


class RedemptionNotPending(Conflict):
    code = "REDEMPTION_NOT_PENDING"
    message = "该兑换码已使用、已取消或已过期"


class WrongPickupStation(DomainError):
    status = 403
    code = "WRONG_PICKUP_STATION"
    message = "该奖品不在本驿站领取"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


async def list_available(*, now: datetime) -> list[Reward]:
    return await Reward.filter(status="active", valid_from__lte=now, valid_until__gt=now).order_by("price", "id")


async def create(*, data: dict[str, Any]) -> Reward:
    """Register a donated reward."""
    if data["valid_until"] <= data["valid_from"]:
        raise ValidationFailed("截止时间须晚于开始时间", details=[{"field": "valid_until", "type": "ends_before_start"}])
    stations = data.get("pickup_station_ids") or []
    if stations and await Station.filter(id__in=stations).count() != len(set(stations)):
        raise ValidationFailed("领取驿站不存在", details=[{"field": "pickup_station_ids", "type": "not_found"}])
    return await Reward.create(total_stock=data["stock"], **data)


async def restock(*, reward_id: int, add: int) -> Reward:
    """More of a reward arrived (or some was withdrawn, never below what is held)."""
    reward = await Reward.select_for_update().get_or_none(id=reward_id)
    if reward is None:
        raise NotFound("奖品不存在")
    if reward.stock + add < 0:
        raise ValidationFailed("库存不能为负", details=[{"field": "add_stock", "type": "negative"}])
    await Reward.filter(id=reward_id).update(stock=reward.stock + add, total_stock=reward.total_stock + add)
    await reward.refresh_from_db()
    return reward


# What the volunteer is shown of a reward besides its name, which an administrator may change at any
# time (a PATCH's ``shown``); None clears one.
SHOWN_FIELDS = ("pickup_place", "image_url")


async def update(*, reward_id: int, add_stock: int, status: str | None,
                 shown: dict[str, Any] | None = None) -> Reward:
    """Restock (or withdraw) a reward, change what is shown of it (``shown``: ``SHOWN_FIELDS``) and,
    if ``status`` is given, put it on or take it off the shelf."""
    reward = await restock(reward_id=reward_id, add=add_stock)
    shown = {name: value for name, value in (shown or {}).items() if name in SHOWN_FIELDS}
    if shown:
        await Reward.filter(id=reward.id).update(**shown)
        for name, value in shown.items():
            setattr(reward, name, value)
    if status:
        reward = await set_status(reward=reward, status=status)
    return reward


async def count_rewards() -> int:
    """How many rewards have ever been registered."""
    return await Reward.all().count()


async def list_rewards(*, offset: int = 0, limit: int | None = None) -> list[Reward]:
    """Every reward, the newest first (the administrators' list), one page of them with ``limit``."""
    qs = Reward.all().order_by("-id")
    if limit is not None:
        qs = qs.offset(offset).limit(limit)
    return await qs


async def mine(*, account: PointsAccount) -> list[Redemption]:
    return await Redemption.filter(account_id=account.id).order_by("-id").limit(100)


async def set_status(*, reward: Reward, status: str) -> Reward:
    await Reward.filter(id=reward.id).update(status=status)
    reward.status = status
    return reward


async def redeem(*, account: PointsAccount, reward_id: int, now: datetime, expiry_days: int) -> Redemption:
    """Exchange points for a reward. ``account`` must be locked by the caller (ledger.lock)."""
    reward = await Reward.get_or_none(id=reward_id)
    if reward is None:
        raise NotFound("奖品不存在")
    if reward.status != "active" or not (reward.valid_from <= now < reward.valid_until):
        raise RewardUnavailable()
    held = await Redemption.filter(account_id=account.id, reward_id=reward.id, status__in=("pending", "fulfilled")).count()
    if held >= reward.per_person_limit:
        raise RedemptionLimit(details={"limit": reward.per_person_limit})
    if account.balance < reward.price:
        raise ledger.InsufficientPoints(details={"balance": account.balance, "price": reward.price})
    locked = await Reward.select_for_update().get(id=reward.id)
    if locked.stock <= 0:
        raise OutOfStock()
    await Reward.filter(id=reward.id).update(stock=locked.stock - 1)
    for _ in range(5):
        try:
            redemption = await Redemption.create(
                reward_id=reward.id, account_id=account.id, points=reward.price, pickup_code=new_code(),
                # The reward is valid now (valid_until > now), so its own end never comes first:
                # adding the days to it only overflowed for a reward valid to the calendar's end.
                expires_at=now + timedelta(days=expiry_days),
                created_at=now,
            )
            break
        except IntegrityError:
            continue  # a pickup code collision (31^8 codes): draw again
    else:  # pragma: no cover - five collisions in a row
        raise Conflict("请重试")
    await ledger.post(account=account, amount=-reward.price, kind="redemption", key=f"redeem:{redemption.id}", now=now,
                      ref_type="redemption", ref_id=redemption.id, actor_id=account.user_id, reason=reward.name)
    await notify.notify(user_id=account.user_id, event="redemption_ready", now=now,
                        ctx={"redemption_id": redemption.id, "reward_name": reward.name,
                             "pickup_code": redemption.pickup_code, "expires": redemption.expires_at})
    return redemption


async def _give_back(*, account: PointsAccount, redemption: Redemption, to: str, now: datetime,
                     actor_id: int | None) -> list[PointsEntry]:
    locked = await Redemption.select_for_update().get(id=redemption.id)
    if locked.status != "pending":
        raise RedemptionNotPending(details={"status": locked.status})
    reward = await Reward.select_for_update().get(id=locked.reward_id)
    await Reward.filter(id=reward.id).update(stock=reward.stock + 1)
    await Redemption.filter(id=locked.id).update(status=to, ended_at=now)
    redemption.status = to
    # The refund pays back any debt first (ledger.post_all): points a reversal could not take back
    # are owed, and a refund of points spent before the reversal must not make them spendable again.
    return await ledger.post_all(account=account, amount=locked.points, kind="redemption_refund",
                                 key=f"refund:{locked.id}", now=now, ref_type="redemption", ref_id=locked.id,
                                 actor_id=actor_id, reason="cancelled" if to == "cancelled" else "expired unclaimed")


async def cancel(*, account: PointsAccount, redemption: Redemption, now: datetime) -> list[PointsEntry]:
    """The volunteer changes their mind before pick-up: points and stock come back; returns the entries."""
    return await _give_back(account=account, redemption=redemption, to="cancelled", now=now, actor_id=account.user_id)


def _code(code: str) -> str:
    """A typed pick-up code as ``new_code`` draws them, or NotFound: anything else names none."""
    code = code.strip().upper()
    # Only what new_code draws can name a redemption; anything else (some letters grow when
    # capitalised, 'ß' to 'SS') is no code, not a lookup the ORM refuses.
    if len(code) != 8 or not set(code) <= set(CODE_ALPHABET):
        raise NotFound("兑换码不存在")
    return code


async def look_up(*, code: str, now: datetime) -> dict[str, Any]:
    """What a worker sees before handing a reward over: the reward, who redeemed it (their volunteer
    name, masked), its state and deadline."""
    redemption = await Redemption.get_or_none(pickup_code=_code(code)).select_related("reward", "account")
    if redemption is None:
        raise NotFound("兑换码不存在")
    volunteer = await VolunteerProfile.get_or_none(user_id=redemption.account.user_id)
    status = "expired" if redemption.status == "pending" and redemption.expires_at <= now else redemption.status
    shown = present_redemption(redemption, reward=redemption.reward,
                               stations=await _pickup_stations([redemption.reward]))
    return {**shown, "status": status, "status_label": labels.label("redemption_status", status),
            "reward_name": redemption.reward.name,
            "donor": redemption.reward.donor, "who": mask_name(volunteer.name) if volunteer else None,
            "pickup_station_ids": redemption.reward.pickup_station_ids or []}


async def fulfil(*, code: str, station_id: int, worker_id: int, now: datetime) -> Redemption:
    """Hand the reward over at a pick-up station, once."""
    code = _code(code)
    found = await Redemption.get_or_none(pickup_code=code)
    if found is None:
        raise NotFound("兑换码不存在")
    locked = await Redemption.select_for_update().get(id=found.id)
    if locked.status != "pending" or locked.expires_at <= now:
        raise RedemptionNotPending(details={"status": locked.status if locked.expires_at > now else "expired"})
    reward = await Reward.get(id=locked.reward_id)
    if reward.pickup_station_ids and station_id not in reward.pickup_station_ids:
        raise WrongPickupStation(details={"pickup_station_ids": reward.pickup_station_ids})
    await Redemption.filter(id=locked.id).update(status="fulfilled", fulfilled_at=now, fulfilled_by=worker_id,
                                                 fulfilled_station_id=station_id)
    await locked.refresh_from_db()
    return locked


async def expire_unclaimed(*, now: datetime) -> int:
    """Pending redemptions past their pick-up deadline: refund points, return stock."""
    from tortoise.transactions import in_transaction

    done = 0
    for rid, account_id in await Redemption.filter(status="pending", expires_at__lt=now).values_list("id", "account_id"):
        async with in_transaction():
            account = await PointsAccount.select_for_update().get(id=account_id)
            redemption = await Redemption.get(id=rid)
            try:
                await _give_back(account=account, redemption=redemption, to="expired", now=now, actor_id=None)
            except RedemptionNotPending:
                continue
            done += 1
    return done


def present_reward(reward: Reward) -> dict[str, Any]:
    return {
        "id": reward.id, "name": reward.name, "donor": reward.donor, "donor_kind": reward.donor_kind,
        "description": reward.description, "price": reward.price, "stock": reward.stock,
        "per_person_limit": reward.per_person_limit, "valid_from": reward.valid_from, "valid_until": reward.valid_until,
        "pickup_station_ids": reward.pickup_station_ids, "pickup_place": reward.pickup_place,
        "image_url": reward.image_url, "status": reward.status,
    }


async def _pickup_stations(rewards: list[Reward]) -> dict[int, Station]:
    """The stations that hand ``rewards`` over, by id, in one read."""
    ids = {station_id for reward in rewards for station_id in reward.pickup_station_ids or []}
    return {station.id: station for station in await Station.filter(id__in=ids)} if ids else {}


async def present_redemptions(redemptions: list[Redemption]) -> list[dict[str, Any]]:
    """``present_redemption`` for each, their rewards and pick-up stations read once for all."""
    if not redemptions:
        return []
    rewards = {reward.id: reward for reward in await Reward.filter(id__in={r.reward_id for r in redemptions})}
    stations = await _pickup_stations(list(rewards.values()))
    return [present_redemption(r, reward=rewards[r.reward_id], stations=stations) for r in redemptions]


def present_redemption(redemption: Redemption, *, reward: Reward, stations: dict[int, Station]) -> dict[str, Any]:
    """A redemption as its volunteer reads it: what they get (name, picture), where to fetch it
    (the place as described, and the stations that hand it over: none listed, any station does),
    and its state in words. ``stations``: at least the reward's pick-up stations, by id."""
    return {
        "id": redemption.id, "reward_id": redemption.reward_id,
        "reward": {
            "id": reward.id, "name": reward.name, "image_url": reward.image_url, "pickup_place": reward.pickup_place,
            "pickup_stations": [
                {"id": s.id, "name": s.name, "address": s.address, "phone": s.phone}
                for s in (stations.get(i) for i in reward.pickup_station_ids or []) if s is not None
            ],
        },
        "points": redemption.points, "status": redemption.status,
        "status_label": labels.label("redemption_status", redemption.status),
        "pickup_code": redemption.pickup_code, "expires_at": redemption.expires_at,
        "fulfilled_at": redemption.fulfilled_at, "created_at": redemption.created_at,
    }
