"""海贝分 credit export (机制二): verified service hours → 信用威海 credit increments.

Haibei's own points are rewards; the city credit score is a separate system. Each time a
volunteer's cumulative verified hours cross a threshold of the published table
(``config/credit_thresholds.json``), one increment is exported, exactly once: the pair
(user, threshold) is unique, so a second run finds nothing new. Hours taken back by a later
reversal do not claw back an increment already exported.

Only volunteers whose consent is in force are exported (server/points/consent.py). A batch here
holds masked ID numbers and blind indexes; what 信用威海 receives, names and full ID numbers
encrypted for it, is made from a batch by server/reports/credit_handoff.py.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from config.data import CREDIT_THRESHOLDS
from models import CreditBatch, CreditIncrement, PointsAccount, VolunteerProfile
from server.errors import Conflict, NotFound
from server.points import consent, ledger

COLUMNS = ["batch_id", "volunteer_id", "user_id", "id_number_masked", "id_number_index", "hours", "threshold_hours",
           "increment", "evidence_task_ids"]


class ExportRace(Conflict):
    code = "CREDIT_EXPORT_BUSY"
    message = "另一批次正在导出,请稍后重试"


def due_thresholds(*, minutes: int, exported: set[int]) -> list[dict[str, int]]:
    """Thresholds reached by ``minutes`` of verified service and not yet exported."""
    return [t for t in CREDIT_THRESHOLDS if minutes >= t["hours"] * 60 and t["hours"] not in exported]


async def export(*, actor_id: int | None, now: datetime) -> CreditBatch | None:
    """Create the next batch with every new increment; None when there is nothing new."""
    done: dict[int, set[int]] = {}
    for user_id, threshold in await CreditIncrement.all().values_list("user_id", "threshold_hours"):
        done.setdefault(user_id, set()).add(threshold)
    minutes = dict(await PointsAccount.filter(verified_minutes__gt=0).values_list("user_id", "verified_minutes"))
    pending = []
    # Only volunteers 信用威海 can credit and who agreed to it: an increment without an ID number
    # can't be matched to a person, a closed profile has none left, and without consent in force
    # nothing of theirs may go (server/points/consent.py). Skipped now, their thresholds stay due,
    # so the hours count once the volunteer supplies an ID number or consents.
    consenting = (await consent.in_force()) & set(minutes)
    eligible = VolunteerProfile.filter(user_id__in=list(consenting), id_number_index__isnull=False).exclude(status="closed")
    for volunteer in await eligible:
        for threshold in due_thresholds(minutes=minutes[volunteer.user_id], exported=done.get(volunteer.user_id, set())):
            pending.append((volunteer, threshold))
    if not pending:
        return None
    batch = await CreditBatch.create(created_by=actor_id, created_at=now, count=len(pending))
    evidence: dict[int, list[int]] = {}
    for volunteer, threshold in pending:
        if volunteer.id not in evidence:
            # The services that count: a reversed award took its service's hours back.
            evidence[volunteer.id] = sorted(await ledger.counted_claims().filter(volunteer_id=volunteer.id)
                                            .values_list("task_id", flat=True))
        try:
            await CreditIncrement.create(
                batch_id=batch.id, user_id=volunteer.user_id, volunteer_id=volunteer.id,
                threshold_hours=threshold["hours"], increment=threshold["increment"],
                hours=round(minutes[volunteer.user_id] / 60, 2), id_number_masked=volunteer.id_number_masked,
                id_number_index=volunteer.id_number_index, evidence_task_ids=evidence[volunteer.id],
            )
        except IntegrityError:
            raise ExportRace() from None
    return batch


async def rows(*, batch_id: int) -> list[dict[str, Any]]:
    out = []
    for inc in await CreditIncrement.filter(batch_id=batch_id).order_by("volunteer_id", "threshold_hours"):
        out.append({
            "batch_id": inc.batch_id, "volunteer_id": inc.volunteer_id, "user_id": inc.user_id,
            "id_number_masked": inc.id_number_masked, "id_number_index": inc.id_number_index, "hours": inc.hours,
            "threshold_hours": inc.threshold_hours, "increment": inc.increment,
            "evidence_task_ids": inc.evidence_task_ids,
        })
    return out


def to_csv(data: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in data:
        writer.writerow({**row, "evidence_task_ids": " ".join(str(t) for t in row["evidence_task_ids"])})
    return buf.getvalue()


async def batches() -> list[CreditBatch]:
    """Every export batch, the newest first (made by hand, a few a year: one page holds them)."""
    return await CreditBatch.all().order_by("-id")


async def get_batch(*, batch_id: int) -> CreditBatch:
    batch = await CreditBatch.get_or_none(id=batch_id)
    if batch is None:
        raise NotFound("批次不存在")
    return batch
