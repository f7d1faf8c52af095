"""Closing an account (PIPL art. 47): what identifies the person goes, what they had going ends,
and the anonymous history others rely on stays."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from models import (
    Assessment, CallbackEvent, Need, Pairing, PointsAccount, Redemption, ResidentProfile, Task, TaskClaim, Upload,
    User, UserRole, VolunteerProfile, WechatSession,
)
from server import audit, feed
from server.actors import Actor
from server.errors import Conflict
from server.notifications import notify
from server.points import rewards
from server.storage import Storage
from server.workflow import flows, pairings, tasks

log = logging.getLogger("haibei.accounts")


class ServiceInProgress(Conflict):
    code = "SERVICE_IN_PROGRESS"
    message = "有正在进行中的服务,请在服务结束后再注销账户"


async def close_account(*, user: User, now: datetime | None = None) -> list[str]:
    """Erase or anonymise everything that identifies the person; keep service history anonymous.
    Returns the storage keys of the photos erased, whose bytes the caller deletes once this has
    committed (``delete_photos``): deleted before, a rollback would leave records without them.

    PIPL art. 47: on closing the account personal information is deleted. Records other people
    rely on (service history, statistics by station and category) stay, stripped of identity.

    What the person still had going ends with the account, so that nobody is sent to a household
    that has left, and no task waits on a volunteer who has: the household's needs not yet under
    way are cancelled (their tasks and claims with them, the claimants told) and any pairing ended;
    the volunteer's claims not yet checked in go back to the pool and their pairings end; pending
    redemptions are cancelled, giving their stock back. A service under way right now (a volunteer
    checked in, at the household or as the household's volunteer) is finished first:
    SERVICE_IN_PROGRESS, nothing changed.
    """
    now = now or datetime.now(timezone.utc)
    # The account row, then the points account, are locked before any plain read (see ledger.lock
    # on REPEATABLE READ). A second tap of "close" waits here and finds the work done: it must not
    # run again over what the first tap cancelled.
    locked = await User.select_for_update().get_or_none(id=user.id)
    if locked is None or locked.status != "active":
        return []
    account = await PointsAccount.select_for_update().get_or_none(user_id=user.id)
    # The volunteer's row before any task's, the order claims take them in (server/workflow/claims.py):
    # releasing this volunteer's claims below locks their tasks.
    volunteer = await VolunteerProfile.select_for_update().get_or_none(user_id=user.id)
    resident = await ResidentProfile.get_or_none(user_id=user.id)
    # By the claims: a task with a free slot stays open while its first volunteers serve.
    if (resident is not None and await TaskClaim.exists(task__need__resident_id=resident.id, status="checked_in")) or (
            volunteer is not None and await TaskClaim.exists(volunteer_id=volunteer.id, status="checked_in")):
        raise ServiceInProgress()
    actor = Actor(user=user)
    reason = "账户注销"
    photo_ids: set[int] = set()

    if resident is not None:
        for need in await Need.filter(resident_id=resident.id, status__in=("submitted", "accepted", "dispatched")):
            await flows.cancel_need(need=need, actor=actor, role="resident", reason=reason, now=now)
        # A need in service (a pairing between visits, a task done and another to come) stays as
        # history; what is still to come of it ends.
        for pairing in await Pairing.filter(resident_id=resident.id, status="active"):
            await pairings.end(pairing=pairing, actor_id=user.id, role="resident", reason=reason, now=now)
        for task in await Task.filter(need__resident_id=resident.id, status__in=("open", "claimed")):
            await tasks.cancel(task=task, actor_id=user.id, reason=reason, now=now, role="resident")
        # The exact place and the household's own words go; category, station and times stay.
        await Need.filter(resident_id=resident.id).update(location_enc=None, description="已注销", rating_comment=None)
        await Task.filter(need__resident_id=resident.id).update(notes_for_volunteer="")
        # The photos of its services show the household's home and often its people: they go too.
        # The records stay (what was done, when, how long, by whom), which the volunteers' hours
        # and points stand on.
        served = TaskClaim.filter(task__need__resident_id=resident.id)
        photo_ids = {i for photos in await served.values_list("photos", flat=True) for i in photos or []}
        if photo_ids:
            await served.update(photos=[])
        # Home-visit notes hold health and family details like the profile's notes; scores stay.
        await Assessment.filter(resident_id=resident.id).update(visit_notes_enc=None)
        await anonymise_resident(resident=resident, now=now)

    if volunteer is not None:
        for claim_id in await TaskClaim.filter(volunteer_id=volunteer.id, status="claimed").values_list("id", flat=True):
            task, claim = await tasks.lock_claim(claim_id=claim_id)
            if claim.status == "claimed":
                await tasks.release(claim=claim, task=task, actor_id=user.id, actor_role="volunteer", now=now,
                                    reason="account closed")
        for pairing in await Pairing.filter(volunteer_id=volunteer.id, status="active"):
            await pairings.end(pairing=pairing, actor_id=user.id, role="volunteer", reason=reason, now=now)
        await VolunteerProfile.filter(user_id=user.id).update(
            name="已注销", display_name=None, phone_enc=None, phone_masked=None, skills=[], status="closed",
            id_number_enc=None, id_number_index=None, id_number_masked=None, nearby_lat=None, nearby_lng=None,
            nearby_km=None, reject_reason=None,
        )
        feed.changed("claims", volunteer.id)

    # The person's own uploads that no service record holds (taken, never attached) go as well;
    # those a record holds are the served household's, and stay with the record.
    attached = {i for photos in await TaskClaim.filter(volunteer__user_id=user.id).values_list("photos", flat=True)
                for i in photos or []}
    photo_ids |= set(await Upload.filter(owner_id=user.id).exclude(id__in=attached or [0]).values_list("id", flat=True))
    keys = list(await Upload.filter(id__in=photo_ids).values_list("storage_key", flat=True)) if photo_ids else []
    if keys:
        await Upload.filter(id__in=photo_ids).delete()

    if account is not None:
        for redemption in await Redemption.filter(account_id=account.id, status="pending"):
            await rewards.cancel(account=account, redemption=redemption, now=now)

    await notify.forget_recipient(user_id=user.id)
    await WechatSession.filter(user_id=user.id).delete()
    if locked.openid:
        # Kept only to spot WeChat's retried deliveries; they hold the openid and the person's choices.
        await CallbackEvent.filter(openid=locked.openid).delete()
    await UserRole.filter(user_id=user.id).delete()
    await User.filter(id=user.id).update(
        openid=None,
        unionid=None,
        phone_enc=None,
        phone_masked=None,
        status="closed",
        closed_at=now,
        token_version=locked.token_version + 1,
    )
    await audit.record(actor_id=user.id, action="account.close", subject_type="user", subject_id=user.id,
                       detail={"photos_erased": len(keys)})
    feed.changed("user", user.id)
    return keys


async def delete_photos(keys: list[str], *, storage: Storage) -> None:
    """The bytes of photos whose rows a committed ``close_account`` erased. One that cannot be
    deleted now is logged: its row is gone, so nothing serves it, and it can be found by its key."""
    for key in keys:
        try:
            await storage.delete(key)
        except OSError as exc:
            log.warning("photo bytes not deleted", extra={"storage_key": key, "error": type(exc).__name__})


async def anonymise_resident(*, resident: ResidentProfile, now: datetime) -> None:
    """Strip a household profile down to station and categories, the anonymous statistics."""
    resident.name = "已注销"
    for field in (
        "id_number_enc", "id_number_index", "id_number_masked", "birth_date", "gender", "phone_enc",
        "phone_index", "phone_masked", "community", "address_enc", "location_enc", "health_notes_enc", "guardian_name",
        "guardian_phone_enc", "guardian_relation",
    ):
        setattr(resident, field, None)
    resident.declared_categories = None  # the household's own say goes with it; the checked ones stay
    resident.status = "closed"
    resident.anonymised_at = now
    await resident.save()
