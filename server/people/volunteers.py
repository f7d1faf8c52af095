"""Volunteer applications and their review by the station (机制二: 社区志愿者)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import CLAIM_ACTIVE, Station, TaskClaim, User, UserRole, VolunteerProfile
from server import audit, feed, geo
from server.errors import Conflict, Forbidden, NotFound, TokenInvalid, ValidationFailed
from server.notifications import notify
from server.pii import FieldCipher, mask_id_number, mask_phone
from server.points import ledger
from server.reference import catalogue

PHONE_CONTEXT = "volunteer.phone"
ID_NUMBER_CONTEXT = "volunteer.id_number"


class NotPending(Conflict):
    code = "VOLUNTEER_NOT_PENDING"
    message = "该申请已处理"


class ServiceInHand(Conflict):
    code = "SERVICE_IN_PROGRESS"
    message = "您有已领取或进行中的服务,请完成或取消后再修改姓名、驿站、身份证号或新增需资质的技能"


class OwnApplication(Forbidden):
    code = "OWN_APPLICATION"
    message = "不能审核本人的志愿者申请,请由驿站其他工作人员审核"


async def upsert_own(*, user: User, data: dict[str, Any], cipher: FieldCipher) -> VolunteerProfile:
    """Apply, or edit (replace) an application. A new station, name or ID number sends an approved
    one back to review: the station vouched for this person, there, under that name and number —
    and the number is what their verified hours are reported under (信用威海, server/points/credit.py).
    So does a newly claimed skill that the catalogue says needs one (``requires_skill``: bathing a
    bedridden person, say): the station approved the skills it saw, and such tasks are offered to
    whoever holds the skill (server/workflow/browse.py, server/workflow/claims.py)."""
    # Lock the account row first (before any plain read fixes the snapshot), so a double submit
    # updates one application instead of racing to create two.
    if (await User.select_for_update().get(id=user.id)).status != "active":
        # Closed while this request waited (accounts.close_account): keep nothing of theirs.
        raise TokenInvalid()
    if not await Station.exists(id=data["station_id"]):
        raise ValidationFailed("所选驿站不存在", details=[{"field": "station_id", "type": "not_found"}])
    await catalogue.check_codes(codes=data.get("skills") or [])
    volunteer = await VolunteerProfile.get_or_none(user_id=user.id)
    if volunteer is None:
        volunteer = VolunteerProfile(user_id=user.id, status="pending")
    elif volunteer.status in ("approved",) and (
        volunteer.station_id != data["station_id"] or volunteer.name != data["name"]
        or volunteer.id_number_index != _index(cipher, data.get("id_number"))
        or (set(data.get("skills") or []) - set(volunteer.skills or [])) & await catalogue.skill_codes()
    ):
        # The reviewing station vouched for this person at that station under that name.
        if await TaskClaim.exists(volunteer_id=volunteer.id, status__in=CLAIM_ACTIVE):
            # Without the role they could neither check in nor record: the household would wait
            # on a claim nobody can serve.
            raise ServiceInHand()
        volunteer.status = "pending"
        await UserRole.filter(user_id=user.id, role="volunteer").delete()
    elif volunteer.status in ("rejected", "closed"):
        volunteer.status = "pending"
        volunteer.reject_reason = None
    volunteer.name = data["name"]
    volunteer.station_id = data["station_id"]
    volunteer.phone_enc = cipher.encrypt(data["phone"], context=PHONE_CONTEXT)
    volunteer.phone_masked = mask_phone(data["phone"])
    volunteer.skills = list(data.get("skills") or [])
    id_number = data.get("id_number")
    volunteer.id_number_enc = cipher.encrypt_optional(id_number, context=ID_NUMBER_CONTEXT)
    volunteer.id_number_index = _index(cipher, id_number)
    volunteer.id_number_masked = mask_id_number(id_number)
    if "display_name" in data:  # left out: kept as it is
        volunteer.display_name = data["display_name"] or None
    await volunteer.save()
    feed.changed("user", user.id)
    return volunteer


def display_name_to_check(*, volunteer: VolunteerProfile | None, data: dict[str, Any]) -> str | None:
    """The display name a save would newly show, which the content check must pass first (None:
    nothing new). One already kept passed it when it was set, so saving the application again
    (WeChat down, say) does not hang on it."""
    wanted = data.get("display_name")
    if not wanted or (volunteer is not None and volunteer.display_name == wanted):
        return None
    return wanted


def _index(cipher: FieldCipher, id_number: str | None) -> str | None:
    # Same index key and context as households, so one person is recognisable across both.
    return cipher.blind_index(id_number, context="resident.id_number") if id_number else None


def check_review(*, volunteer: VolunteerProfile, reviewer_id: int) -> None:
    """Only a pending application can be approved or rejected, and not by the applicant: a worker
    who also volunteers would otherwise vouch for themself, then confirm their own service."""
    if volunteer.user_id == reviewer_id:
        raise OwnApplication()
    if volunteer.status != "pending":
        raise NotPending()


async def _decide(*, volunteer: VolunteerProfile, reviewer_id: int, status: str, reason: str | None,
                  now: datetime) -> VolunteerProfile:
    # Two workers may press the button at once: the row decides, only one update lands. It must
    # still be at the station whose worker was let review it (server.access): an applicant who
    # moved meanwhile is that other station's to decide.
    updated = await VolunteerProfile.filter(id=volunteer.id, status="pending", station_id=volunteer.station_id).update(
        status=status, reviewed_by=reviewer_id, reviewed_at=now, reject_reason=reason
    )
    if updated != 1:
        raise NotPending()
    feed.changed("user", volunteer.user_id)
    await volunteer.refresh_from_db()
    return volunteer


async def approve(*, volunteer: VolunteerProfile, reviewer_id: int, now: datetime) -> VolunteerProfile:
    """Approve an application and grant the volunteer role."""
    check_review(volunteer=volunteer, reviewer_id=reviewer_id)
    volunteer = await _decide(volunteer=volunteer, reviewer_id=reviewer_id, status="approved", reason=None, now=now)
    if not await UserRole.exists(user_id=volunteer.user_id, role="volunteer"):
        await UserRole.create(user_id=volunteer.user_id, role="volunteer", station_id=volunteer.station_id,
                              granted_by=reviewer_id)
    # Open the points account now, so the first award never has to create it mid-transaction.
    await ledger.account_for(user_id=volunteer.user_id)
    await audit.record(actor_id=reviewer_id, action="volunteer.approve", subject_type="volunteer",
                       subject_id=volunteer.id)
    station = await Station.get(id=volunteer.station_id)
    await notify.notify(user_id=volunteer.user_id, event="volunteer_approved", ctx={"station_name": station.name, "at": now},
                        now=now)
    return volunteer


async def reject(*, volunteer: VolunteerProfile, reviewer_id: int, reason: str, now: datetime) -> VolunteerProfile:
    """Reject an application with a reason the applicant will read."""
    check_review(volunteer=volunteer, reviewer_id=reviewer_id)
    volunteer = await _decide(volunteer=volunteer, reviewer_id=reviewer_id, status="rejected", reason=reason, now=now)
    await audit.record(actor_id=reviewer_id, action="volunteer.reject", subject_type="volunteer",
                       subject_id=volunteer.id, detail={"reason": reason})
    station = await Station.get(id=volunteer.station_id)
    await notify.notify(user_id=volunteer.user_id, event="volunteer_rejected", now=volunteer.reviewed_at,
                        ctx={"station_name": station.name, "reason": reason, "at": volunteer.reviewed_at})
    return volunteer


async def list_for_station(*, station_id: int, status: str | None, limit: int, offset: int) -> tuple[list[VolunteerProfile], int]:
    qs = VolunteerProfile.filter(station_id=station_id).exclude(status="closed")
    if status:
        qs = qs.filter(status=status)
    return await qs.order_by("-id").limit(limit).offset(offset), await qs.count()


async def get_own(*, user_id: int) -> VolunteerProfile | None:
    return await VolunteerProfile.get_or_none(user_id=user_id)


def present(volunteer: VolunteerProfile) -> dict[str, Any]:
    """Volunteers' phones are masked everywhere; the name is shown, they serve under it."""
    return {
        "id": volunteer.id,
        "user_id": volunteer.user_id,
        "station_id": volunteer.station_id,
        "name": volunteer.name,
        "display_name": volunteer.display_name,
        "phone": volunteer.phone_masked,
        "id_number": volunteer.id_number_masked,
        "skills": list(volunteer.skills or []),
        "status": volunteer.status,
        "reject_reason": volunteer.reject_reason,
        "reviewed_at": volunteer.reviewed_at,
    }


async def set_nearby(*, user_id: int, lat: float | None, lng: float | None, radius_km: float | None) -> VolunteerProfile:
    """Opt in to (or, with no radius, out of) news of tasks near a place; kept only to ~500 m."""
    if (await User.select_for_update().get(id=user_id)).status != "active":
        raise TokenInvalid()  # closed while this request waited: keep no place of theirs
    volunteer = await VolunteerProfile.get_or_none(user_id=user_id)
    if volunteer is None:
        raise NotFound("请先申请成为志愿者")
    if radius_km is None:
        volunteer.nearby_lat = volunteer.nearby_lng = volunteer.nearby_km = None
    else:
        volunteer.nearby_lat, volunteer.nearby_lng = geo.fuzz(lat, lng)
        volunteer.nearby_km = radius_km
    await volunteer.save(update_fields=["nearby_lat", "nearby_lng", "nearby_km"])
    feed.changed("user", user_id)
    return volunteer


async def approved_at(*, station_id: int) -> list[VolunteerProfile]:
    """A station's approved volunteers by name: whom a worker may pair a household with."""
    return await VolunteerProfile.filter(station_id=station_id, status="approved").order_by("name", "id").limit(500)
