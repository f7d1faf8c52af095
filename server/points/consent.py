"""A volunteer's consent to the 海贝分 link (知情同意): their name, ID number and verified hours go to
信用威海 only while they agree to it.

Providing personal information to another processor needs the person's separate consent, given
knowing who receives what and why, and withdrawable as easily (PIPL art. 14, 15, 23). The text
and its version are in ``config/credit_consent.json``. A consent counts while it is open (not
withdrawn) and given to the version in force: a new version (a new recipient, purpose or kind of
data) waits for the volunteer to agree again, since they never saw it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.functions import Count

from config.data import CREDIT_CONSENT
from models import CreditConsent, User, VolunteerProfile
from server.errors import Conflict, Forbidden, TokenInvalid

STATES = {"none": "未授权", "consented": "已授权", "outdated": "同意书已更新,待重新授权", "withdrawn": "已撤回"}


class VersionOutdated(Conflict):
    code = "CONSENT_VERSION_OUTDATED"
    message = "同意书已更新,请阅读最新版本后再同意"


class NotApprovedVolunteer(Forbidden):
    code = "NOT_APPROVED_VOLUNTEER"
    message = "通过驿站审核的志愿者才能授权"


def current_version() -> str:
    return CREDIT_CONSENT["version"]


async def _lock_user(user_id: int) -> None:
    # One consent change at a time per person: a double tap opens one row, not two.
    if (await User.select_for_update().get(id=user_id)).status != "active":
        raise TokenInvalid()


def check_consent(*, volunteer: VolunteerProfile | None, version: str) -> None:
    """Only an approved volunteer consents, and only to the text in force (the one they read)."""
    if volunteer is None or volunteer.status != "approved":
        raise NotApprovedVolunteer()
    if version != current_version():
        raise VersionOutdated(details={"current_version": current_version()})


async def consent(*, user_id: int, now: datetime) -> None:
    """Record consent to the version in force; nothing new if it is already given. An open consent
    to an older version ends now, as the new one begins."""
    await _lock_user(user_id)
    open_rows = await CreditConsent.filter(user_id=user_id, withdrawn_at__isnull=True)
    if any(row.version == current_version() for row in open_rows):
        return
    if open_rows:
        await CreditConsent.filter(id__in=[row.id for row in open_rows]).update(withdrawn_at=now)
    await CreditConsent.create(user_id=user_id, version=current_version(), consented_at=now)


async def withdraw(*, user_id: int, now: datetime) -> None:
    """Withdraw consent: from now on nothing of theirs is provided. Nothing open, nothing to do."""
    await _lock_user(user_id)
    await CreditConsent.filter(user_id=user_id, withdrawn_at__isnull=True).update(withdrawn_at=now)


async def in_force(*, user_ids: list[int] | None = None) -> set[int]:
    """Those of ``user_ids`` (None: everyone) whose consent counts now: open, and to the version in force."""
    qs = CreditConsent.filter(withdrawn_at__isnull=True, version=current_version())
    if user_ids is not None:
        if not user_ids:
            return set()
        qs = qs.filter(user_id__in=user_ids)
    return set(await qs.values_list("user_id", flat=True))


async def standing() -> dict[str, Any]:
    """The text in force, and how many people stand where with it (counted by the database): an
    open consent to this version (``consented``), an open one to an older version, which counts
    for nothing until given again (``outdated``), and none open any more (``withdrawn``)."""
    open_by_version = dict(await CreditConsent.filter(withdrawn_at__isnull=True)
                           .annotate(n=Count("user_id", distinct=True)).group_by("version")
                           .values_list("version", "n"))
    [everyone] = await CreditConsent.all().annotate(n=Count("user_id", distinct=True)).values_list("n", flat=True)
    consented = open_by_version.pop(current_version(), 0)
    # A person has at most one open consent (``consent`` closes the older one as it opens the next),
    # so the open ones, summed over versions, are the people still consenting to something.
    outdated = sum(open_by_version.values())
    return {
        "version": current_version(), "title": CREDIT_CONSENT["title"], "text": CREDIT_CONSENT["text"],
        "consented": consented, "outdated": outdated, "withdrawn": (everyone or 0) - consented - outdated,
    }


async def state_of(*, user_id: int, volunteer: VolunteerProfile | None) -> dict[str, Any]:
    """The text to read, where the caller stands, and every consent they gave and when it ended."""
    rows = await CreditConsent.filter(user_id=user_id).order_by("-id")
    latest = rows[0] if rows else None
    if latest is None:
        state = "none"
    elif latest.withdrawn_at is not None:
        state = "withdrawn"
    elif latest.version != current_version():
        state = "outdated"
    else:
        state = "consented"
    return {
        "version": current_version(),
        "title": CREDIT_CONSENT["title"],
        "text": CREDIT_CONSENT["text"],
        "state": state,
        "state_label": STATES[state],
        "consented_version": latest.version if latest else None,
        "consented_at": latest.consented_at if latest else None,
        "withdrawn_at": latest.withdrawn_at if latest else None,
        "can_consent": volunteer is not None and volunteer.status == "approved",
        # Without an ID number 信用威海 cannot match the hours to them: consent alone sends nothing.
        "id_number_missing": volunteer is None or volunteer.id_number_index is None,
        "history": [{"version": r.version, "consented_at": r.consented_at, "withdrawn_at": r.withdrawn_at} for r in rows],
    }
