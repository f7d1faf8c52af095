"""Service records: the volunteer's check-in on site and account of the service, and the
station's confirmation that credits the points (任务五, 机制三: 服务时长 → 积分).

The evidence of a check-in is layered: the household's QR plate, the distance from the household,
and the time against the task's window; each service's ``checkin_policy`` says which place
evidence it needs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from config import Settings
from models import Need, PointsEntry, ResidentProfile, Service, Task, TaskClaim, Upload, VolunteerProfile
from server import audit, geo
from server.errors import DomainError, Forbidden, ValidationFailed
from server.pii import FieldCipher, mask_name
from server.points import ledger
from server.workflow import content, events, needs, plates, tasks

# How long before the check-in a service record may say the service began.
RECORD_START_TOLERANCE = timedelta(minutes=5)


class OwnService(Forbidden):
    code = "OWN_SERVICE"
    message = "不能确认本人参与的服务,请由驿站其他工作人员确认"


class RecordBeforeCheckIn(ValidationFailed):
    code = "RECORD_BEFORE_CHECKIN"
    message = "服务开始时间不能早于签到时间"


class CheckinEvidence(DomainError):
    status = 422
    code = "CHECKIN_EVIDENCE"
    message = "签到条件不满足"


class ShortServiceReasonRequired(DomainError):
    status = 422
    code = "SHORT_SERVICE_REASON_REQUIRED"
    message = "服务时长低于该服务最低时长,请填写确认理由"


# ---- check-in and record --------------------------------------------------------------------


async def check_in(
    *, task: Task, claim: TaskClaim, scene: str | None, lat: float | None, lng: float | None,
    cipher: FieldCipher, settings: Settings, now: datetime, actor_id: int,
) -> TaskClaim:
    """Layered evidence that the volunteer is at the household, at the agreed time."""
    # Locked: the expiry job or a cancellation may be ending the task right now.
    current = await Task.select_for_update().get(id=task.id)
    if current.status not in ("open", "claimed", "checked_in"):
        task.status = current.status
        raise events.invalid_state(task, "签到")
    need = await Need.get(id=task.need_id)
    service = await Service.get(code=task.service_id)
    evidence: dict[str, Any] = {"plate": False, "location": False, "time": False}
    if scene:
        evidence["plate"] = plates.resident_for(scene=scene, key=cipher.derived_key("plate")) == need.resident_id
    home = await tasks.household_location(need=need, cipher=cipher)
    if lat is not None and lng is not None and home and home.get("lat") is not None:
        distance = geo.distance_m(lat, lng, home["lat"], home["lng"])
        evidence["distance_m"] = int(distance)
        evidence["location"] = distance <= settings.checkin_radius_m
    grace = timedelta(minutes=settings.checkin_grace_minutes)
    evidence["time"] = task.scheduled_start - grace <= now <= task.scheduled_end + grace
    policy = service.checkin_policy
    place_ok = {
        "plate": evidence["plate"],
        "location": evidence["location"],
        "plate_and_location": evidence["plate"] and evidence["location"],
    }.get(policy, evidence["plate"] or evidence["location"])
    if not (place_ok and evidence["time"]):
        missing = []
        if not place_ok:
            missing.append({"plate": "plate", "location": "location", "plate_and_location": "plate_and_location"}.get(policy, "plate_or_location"))
        if not evidence["time"]:
            missing.append("time")
        raise CheckinEvidence(
            "签到失败:" + "、".join({"plate": "未扫描门牌码", "location": "不在服务地点附近", "plate_or_location": "请扫描门牌码或在服务地点附近签到",
                                     "plate_and_location": "须扫描门牌码且在服务地点附近", "time": "不在服务时间内"}[m] for m in missing),
            details={"missing": missing, "policy": policy, "evidence": evidence},
        )
    evidence["policy"] = policy
    await events.move(claim, to="checked_in", allowed_from=("claimed",), wanted="签到", need_id=task.need_id,
                      actor_id=actor_id, actor_role="volunteer", now=now,
                      extra={"checked_in_at": now, "checkin_evidence": evidence})
    await tasks.follow_claims(task=task, actor_id=actor_id, actor_role="volunteer", now=now, locked=current)
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role="volunteer", now=now)
    await tasks.tell(task, "volunteer_checked_in", who="household", volunteer=await VolunteerProfile.get(id=claim.volunteer_id),
                now=now)
    return claim


async def submit_record(
    *, task: Task, claim: TaskClaim, started_at: datetime, ended_at: datetime, summary: str,
    photos: list[int], settings: Settings, now: datetime, actor_id: int, owner_user_id: int,
    screened: content.Verdict | None = None,
) -> TaskClaim:
    """The volunteer's account of the service; it must fit the window (plus grace) and the past."""
    await Task.select_for_update().get(id=task.id)  # the task's row before the claim's (see ``release``)
    grace = timedelta(minutes=settings.checkin_grace_minutes)
    if ended_at <= started_at:
        raise ValidationFailed("结束时间须晚于开始时间", details=[{"field": "ended_at", "type": "ends_before_start"}])
    if ended_at > now + timedelta(minutes=5):
        raise ValidationFailed("结束时间不能晚于现在", details=[{"field": "ended_at", "type": "in_future"}])
    if started_at < task.scheduled_start - grace or ended_at > task.scheduled_end + grace:
        raise ValidationFailed("服务时间须在任务时段内(含宽限)", details=[{"field": "started_at", "type": "outside_window"}])
    # Verified minutes, and so points (机制三: 服务时长 → 积分), count from when the volunteer was
    # there: never before the claim, and at most a few minutes before the check-in (a phone that
    # checked in a little late), not from the start of the window.
    if claim.checked_in_at is not None and started_at < claim.checked_in_at - RECORD_START_TOLERANCE:
        raise RecordBeforeCheckIn(
            f"服务开始时间不能早于签到时间{int(RECORD_START_TOLERANCE.total_seconds() // 60)}分钟以上",
            details=[{"field": "started_at", "type": "before_checkin", "checked_in_at": claim.checked_in_at.isoformat()}])
    if started_at < claim.claimed_at:
        raise RecordBeforeCheckIn("服务开始时间不能早于领取任务的时间",
                                  details=[{"field": "started_at", "type": "before_claim", "claimed_at": claim.claimed_at.isoformat()}])
    if photos:
        # Locked: two records attaching the same photo at once see each other.
        owned = len(await Upload.select_for_update().filter(id__in=photos, owner_id=owner_user_id))
        if owned != len(set(photos)):
            raise ValidationFailed("照片不存在", details=[{"field": "photos", "type": "not_found"}])
        # A photo is the evidence of one service: the same one again would stand for a visit
        # nobody photographed.
        for held in await TaskClaim.filter(volunteer_id=claim.volunteer_id).exclude(id=claim.id).values_list("photos", flat=True):
            if reused := sorted(set(photos) & set(held or [])):
                raise ValidationFailed("照片已用于其他服务记录",
                                       details=[{"field": "photos", "type": "already_used", "ids": reused}])
    await events.move(claim, to="submitted", allowed_from=("checked_in",), wanted="提交服务记录", need_id=task.need_id,
                      actor_id=actor_id, actor_role="volunteer", now=now,
                      extra={"started_at": started_at, "ended_at": ended_at, "summary": summary,
                             "photos": list(dict.fromkeys(photos)), "submitted_at": now, "record_reject_reason": None})
    await tasks.follow_claims(task=task, actor_id=actor_id, actor_role="volunteer", now=now)
    await tasks.tell(task, "record_submitted", who="workers", volunteer=await VolunteerProfile.get(id=claim.volunteer_id), now=now)
    if screened is not None:
        await content.flag(verdict=screened, station_id=task.station_id, subject_type="claim", subject_id=claim.id,
                           field="summary", author_id=actor_id, now=now)
    return claim


# ---- confirmation -----------------------------------------------------------------------------


async def confirm(*, task: Task, actor_id: int, minutes: int | None, settings: Settings, now: datetime,
                  reason: str | None = None) -> list[PointsEntry]:
    """A worker confirms the submitted records and each volunteer is credited, in this same
    transaction and once per claim (the ledger key is the claim). Returns the ledger entries.

    A claim whose verified minutes fall below the service's ``min_minutes`` is confirmed only with
    a ``reason``: points are still credited by the rules (at least ``min_per_service``), so a
    17-second record must not earn them without a worker having seen it and said why. The reason
    goes on each claim's timeline row and, for the short ones, into the audit trail."""
    claims = await TaskClaim.filter(task_id=task.id, status="submitted")
    if task.status != "submitted" or not claims:
        raise events.invalid_state(task, "确认")
    # Whoever served does not verify it: a worker who volunteers is confirmed by a colleague.
    if await VolunteerProfile.exists(id__in=[c.volunteer_id for c in claims], user_id=actor_id):
        raise OwnService()
    need = await Need.get(id=task.need_id)
    # Nor does the household that received it: a worker's own home is a colleague's to confirm.
    if await ResidentProfile.exists(id=need.resident_id, user_id=actor_id):
        raise OwnService("不能确认本人家庭接受的服务,请由驿站其他工作人员确认")
    service = await Service.get(code=task.service_id)
    grace = timedelta(minutes=settings.checkin_grace_minutes)
    window_cap = tasks.service_minutes(task.scheduled_start, task.scheduled_end) + 2 * int(grace.total_seconds() // 60)
    # Every claim is checked before any is confirmed: a refusal changes nothing.
    decided: list[tuple[TaskClaim, int, int]] = []
    for claim in claims:
        recorded = tasks.service_minutes(claim.started_at, claim.ended_at)
        if minutes is not None and minutes > min(recorded, window_cap):
            raise ValidationFailed("核定时长不能超过服务记录或任务时段",
                                   details=[{"field": "minutes", "type": "too_long", "max": min(recorded, window_cap)}])
        decided.append((claim, recorded, min(recorded, window_cap) if minutes is None else minutes))
    short = [(claim, recorded, verified) for claim, recorded, verified in decided
             if tasks.below_minimum(verified, service=service)]
    if short and not reason:
        raise ShortServiceReasonRequired(
            f"服务时长低于该服务最低时长({service.min_minutes}分钟),请填写确认理由",
            details={"min_minutes": service.min_minutes,
                     "claims": [{"claim_id": claim.id, "recorded_minutes": recorded, "verified_minutes": verified}
                                for claim, recorded, verified in short]})
    posted: list[PointsEntry] = []
    for claim, recorded, verified in decided:
        await events.move(claim, to="confirmed", allowed_from=("submitted",), wanted="确认", need_id=task.need_id,
                          actor_id=actor_id, actor_role="worker", now=now, reason=reason or None,
                          extra={"confirmed_by": actor_id, "confirmed_at": now, "verified_minutes": verified,
                                 "active_key": None})
        if tasks.below_minimum(verified, service=service):
            await audit.record(actor_id=actor_id, action="claim.confirm_short", subject_type="claim",
                               subject_id=claim.id, detail={
                                   "task_id": task.id, "service_code": service.code, "reason": reason,
                                   "recorded_minutes": recorded, "verified_minutes": verified,
                                   "min_minutes": service.min_minutes})
        volunteer = await VolunteerProfile.get(id=claim.volunteer_id)
        amount, entries = await ledger.award_for_claim(claim=claim, task=task, need=need, volunteer=volunteer,
                                                       actor_id=actor_id, now=now)
        await TaskClaim.filter(id=claim.id).update(points_due=amount)
        posted += entries
        await tasks.tell(task, "task_confirmed", who="volunteer", volunteer=volunteer, now=now, points=amount)
    await tasks.follow_claims(task=task, actor_id=actor_id, actor_role="worker", now=now)
    await needs.follow_tasks(need=need, actor_id=actor_id, actor_role="worker", now=now)
    await task.refresh_from_db()
    return posted


async def reject_record(*, task: Task, actor_id: int, reason: str, now: datetime) -> Task:
    """Send submitted records back so the volunteer can correct them."""
    claims = await TaskClaim.filter(task_id=task.id, status="submitted")
    if task.status != "submitted" or not claims:
        raise events.invalid_state(task, "退回记录")
    for claim in claims:
        await events.move(claim, to="checked_in", allowed_from=("submitted",), wanted="退回", need_id=task.need_id,
                          actor_id=actor_id, actor_role="worker", now=now, reason=reason,
                          extra={"record_reject_reason": reason})
        await tasks.tell(task, "record_rejected", who="volunteer", volunteer=await VolunteerProfile.get(id=claim.volunteer_id),
                    now=now, reason=reason)
    await events.move(task, to="checked_in", allowed_from=("submitted",), wanted="退回", need_id=task.need_id,
                      actor_id=actor_id, actor_role="worker", now=now, reason=reason)
    return task


# ---- views ----------------------------------------------------------------------------------


async def for_review(rows: list[tuple[Task, list[tuple[TaskClaim, str]]]], *, cipher: FieldCipher,
                     now: datetime) -> list[dict[str, Any]]:
    """Submitted service records as a worker reviews them before confirming (``tasks.for_station``
    rows): the task as workers see it, its household, and each record's times, length, check-in
    evidence (plate, distance, time) and photos."""
    if not rows:
        return []
    need_ids = {task.need_id for task, _ in rows}
    households = {n.id: n.resident for n in await Need.filter(id__in=list(need_ids)).select_related("resident")}
    out = []
    for task, claims in rows:
        shown = await tasks.present_full(task, cipher=cipher, viewer="worker", now=now, claims=claims,
                                         service_name=task.service.name)
        for item, (claim, _) in zip(shown["claims"], claims):
            item["evidence"] = claim.checkin_evidence or {}
            item["photos"] = list(claim.photos or [])
            item["submitted_at"] = claim.submitted_at
        household = households.get(task.need_id)
        shown["household"] = {"id": household.id, "name": mask_name(household.name)} if household else None
        out.append(shown)
    return out
