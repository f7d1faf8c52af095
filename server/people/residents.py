"""Household (resident) profiles: who is served (任务一), kept with their personal data protected.

Sensitive fields are encrypted at rest and masked in every ordinary response (PIPL art. 28/51,
GB/T 35273 §6.3). The ID number also gets a keyed blind index, so a household registered twice,
by itself and by a worker say, is caught without decrypting anything (机制四: 避免重复).

Someone registering themself with a number a household already holds is not told so: anyone can
type anyone's ID number, and whether a person is on the assistance register is itself sensitive.
Their profile is saved like any other, without the number's index, and the holder's station gets
an identity case with both profiles side by side to settle. The household first on the register
is never refused service because someone else claimed its number first.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models import NEED_UNDER_WAY, IdentityCase, Need, ResidentProfile, Station, User
from server import audit
from server.clock import CHINA_TZ
from server.errors import Conflict, Forbidden, NotFound, TokenInvalid, ValidationFailed
from server.pii import (
    FieldCipher, age_on, id_birth_date, id_gender, mask_id_number, mask_name, mask_phone, normalize_id_number,
)


# AES-GCM associated data per column: a ciphertext moved to another column will not decrypt.
CTX = {
    "id_number": "resident.id_number",
    "phone": "resident.phone",
    "address": "resident.address",
    "location": "resident.location",
    "health_notes": "resident.health_notes",
    "guardian_phone": "resident.guardian_phone",
}
UNMASKED_FIELDS = ("name", "id_number", "phone", "address", "lat", "lng", "health_notes", "guardian_name", "guardian_phone")

# PIPL art. 31: personal information of a minor under fourteen needs a guardian's consent.
GUARDIAN_CONSENT_AGE = 14
# What a person saving their own profile is told, whoever else holds the number they gave.
SAVED_NOTICE = "已提交,驿站核实后生效"
CASE_OUTCOMES = ("holder_keeps", "claimant_takes")


class DuplicateHousehold(Conflict):
    code = "DUPLICATE_HOUSEHOLD"
    message = "该身份证号已登记,请联系所在驿站核实"


class CaseSettled(Conflict):
    code = "CASE_SETTLED"
    message = "该核实事项已处理"


class HouseholdExited(Conflict):
    code = "HOUSEHOLD_EXITED"
    message = "该居民已退出救助,请先恢复救助再办理"


class GuardianRequired(ValidationFailed):
    code = "GUARDIAN_CONSENT_REQUIRED"
    message = "未满14周岁,须填写监护人信息并取得监护人同意"


class HouseholdInService(Conflict):
    code = "HOUSEHOLD_IN_SERVICE"
    message = "您在原驿站还有进行中的求助,暂不能更换驿站,请联系原驿站"


class OtherStation(Forbidden):
    code = "OTHER_STATION"
    message = "只能登记和编辑本驿站的居民档案"


def _today() -> date:
    # Ages are counted on the calendar in Weihai, not in UTC.
    return datetime.now(CHINA_TZ).date()


async def _check_station(station_id: int) -> None:
    if not await Station.exists(id=station_id):
        raise ValidationFailed("所选驿站不存在", details=[{"field": "station_id", "type": "not_found"}])


def _birth(data: dict[str, Any]) -> date | None:
    if data.get("id_number"):
        birth = id_birth_date(data["id_number"])
        if data.get("birth_date") and data["birth_date"] != birth:
            raise ValidationFailed("出生日期与身份证号不一致", details=[{"field": "birth_date", "type": "mismatch"}])
        return birth
    return data.get("birth_date")


def check_profile(*, data: dict[str, Any]) -> None:
    """Rules a profile must meet beyond field shapes; raises with the reason."""
    birth = _birth(data)
    if birth is not None and birth > _today():
        raise ValidationFailed("出生日期不能晚于今天", details=[{"field": "birth_date", "type": "future"}])
    if birth is not None and birth.year < 1900:  # the same floor an ID number's date meets (server.pii)
        raise ValidationFailed("出生日期有误,请检查", details=[{"field": "birth_date", "type": "too_early"}])
    if birth is not None and age_on(birth, _today()) < GUARDIAN_CONSENT_AGE:
        missing = [f for f in ("guardian_name", "guardian_phone", "guardian_relation") if not data.get(f)]
        if missing or not data.get("guardian_consent"):
            details = [{"field": f, "type": "missing"} for f in missing]
            if not data.get("guardian_consent"):
                details.append({"field": "guardian_consent", "type": "must_be_true"})
            raise GuardianRequired(details=details)


def apply_profile(resident: ResidentProfile, *, data: dict[str, Any], cipher: FieldCipher, actor_id: int, now: datetime,
           by_household: bool = False) -> None:
    """Copy validated input onto the row, encrypting and masking as it goes. The categories a
    household gives of itself are its declaration (``declare_categories``); a worker's are checked."""
    enc = cipher.encrypt_optional
    id_number = data.get("id_number")
    birth = _birth(data)
    resident.name = data["name"]
    resident.station_id = data["station_id"]
    resident.id_number_enc = enc(id_number, context=CTX["id_number"])
    resident.id_number_index = cipher.blind_index(id_number, context=CTX["id_number"]) if id_number else None
    resident.id_number_masked = mask_id_number(id_number)
    resident.birth_date = birth
    resident.gender = id_gender(id_number) if id_number else None
    resident.phone_enc = enc(data.get("phone"), context=CTX["phone"])
    resident.phone_masked = mask_phone(data.get("phone"))
    resident.phone_index = cipher.blind_index(data["phone"], context=CTX["phone"]) if data.get("phone") else None
    resident.community = data.get("community")
    resident.address_enc = enc(data.get("address"), context=CTX["address"])
    location = None
    if data.get("lat") is not None:
        location = json.dumps([data["lat"], data["lng"]])
    resident.location_enc = enc(location, context=CTX["location"])
    if by_household:
        declare_categories(resident, list(data.get("categories") or []))
    else:
        resident.categories, resident.declared_categories = list(data.get("categories") or []), None
    resident.health_notes_enc = enc(data.get("health_notes") or None, context=CTX["health_notes"])
    resident.guardian_name = data.get("guardian_name")
    resident.guardian_phone_enc = enc(data.get("guardian_phone"), context=CTX["guardian_phone"])
    resident.guardian_relation = data.get("guardian_relation")
    if data.get("guardian_consent") and data.get("guardian_name"):
        # Re-saving with consent re-records who took it and when; withdrawing clears it.
        resident.guardian_consent_at = now
        resident.guardian_consent_recorded_by = actor_id
    elif not data.get("guardian_consent"):
        resident.guardian_consent_at = None
        resident.guardian_consent_recorded_by = None


async def _check_duplicate(*, cipher: FieldCipher, id_number: str | None, exclude_id: int | None) -> None:
    """For a worker registering or correcting a household: a number held by another is refused,
    naming its station to coordinate with (a person registering themself is never told:
    ``upsert_own``)."""
    if not id_number:
        return
    index = cipher.blind_index(id_number, context=CTX["id_number"])
    other = await ResidentProfile.filter(id_number_index=index).exclude(id=exclude_id or 0).first()
    if other is not None:
        raise DuplicateHousehold(details={"station_id": other.station_id})


async def _check_can_move(*, resident: ResidentProfile) -> None:
    """A household may change station only while no station is working on a need of theirs: the need
    stays with the station that took it on, which would lose the household (its profile, phone and
    QR plate) in mid-service. Workers may not move households at all (``update_on_behalf``)."""
    open_ids = await Need.filter(resident_id=resident.id, status__in=NEED_UNDER_WAY).order_by("id").values_list("id", flat=True)
    if open_ids:
        raise HouseholdInService(details={"need_ids": list(open_ids)})


async def _save(resident: ResidentProfile) -> None:
    try:
        await resident.save()
    except IntegrityError:
        # Two registrations of one ID number at the same moment both passed the check above;
        # the unique blind index lets only one in.
        raise DuplicateHousehold() from None


async def upsert_own(*, user: User, data: dict[str, Any], cipher: FieldCipher, now: datetime) -> ResidentProfile:
    """Create or replace the caller's own household profile."""
    # Lock the account row first, before any plain read fixes this transaction's snapshot: a
    # double-tapped "save" must then see the profile the first tap created and update it.
    if (await User.select_for_update().get(id=user.id)).status != "active":
        # Closed while this request waited (accounts.close_account): keep nothing of theirs.
        raise TokenInvalid()
    await _check_station(data["station_id"])
    check_profile(data=data)
    # Locked, so a worker checking its categories meanwhile (``check_categories``) is not undone
    # by saving the row as read before; by primary key and only once it exists (a locking read of
    # a missing user_id takes a gap lock, and two first registrations at once deadlock on it).
    resident = await ResidentProfile.get_or_none(user_id=user.id)
    if resident is not None:
        resident = await ResidentProfile.select_for_update().get(id=resident.id)
    if resident is not None and resident.station_id != data["station_id"]:
        await _check_can_move(resident=resident)
    created = resident is None
    held = None if resident is None else resident.id_number_index
    if resident is None:
        resident = ResidentProfile(user_id=user.id)
    apply_profile(resident, data=data, cipher=cipher, actor_id=user.id, now=now, by_household=True)
    wanted, claimed = resident.id_number_index, None
    if wanted != held:
        # A number new to this profile is taken in a second step, once the row is saved without
        # it: two people registering one number at once then meet only on that update, and the
        # loser's duplicate-key error leaves it nothing more to write in that index. (Inserting
        # its row again after the error, under the shared lock the error left, deadlocked
        # against the other losers doing the same.)
        resident.id_number_index = None
    await resident.save()
    if wanted is not None and wanted != held:
        if await ResidentProfile.filter(id_number_index=wanted).exists():
            claimed = wanted  # the number stays its holder's until the station settles it
        else:
            try:
                await ResidentProfile.filter(id=resident.id).update(id_number_index=wanted)
                resident.id_number_index = wanted
            except IntegrityError:
                claimed = wanted  # registered by someone else at this very moment: they hold it
    await audit.record(actor_id=user.id, action="resident.create" if created else "resident.update",
                       subject_type="resident", subject_id=resident.id)
    await _track_claim(claimant=resident, claimed=claimed, now=now)
    return resident


async def _track_claim(*, claimant: ResidentProfile, claimed: str | None, now: datetime) -> None:
    """Open a case for a number someone else holds (``claimed``: its blind index), one per profile
    however often it is saved; a profile saved with another number, or one it now holds itself,
    claims nothing more, and its open case closes."""
    # Read first, then change by primary key: a locking scan of the claimant's range (a first
    # registration has none) would take gap locks that concurrent registrations deadlock on.
    open_cases = await IdentityCase.filter(claimant_id=claimant.id, status="open").values_list("id", "number_index")
    stale = [case_id for case_id, index in open_cases if index != claimed]
    if stale:
        await IdentityCase.filter(id__in=stale, status="open").update(status="settled", outcome="withdrawn",
                                                                      settled_at=now, open_key=None)
    if claimed is None or len(stale) < len(open_cases):
        return
    try:
        case = await IdentityCase.create(claimant_id=claimant.id, claimant_station_id=claimant.station_id,
                                         number_index=claimed, open_key=claimant.id, created_at=now)
    except IntegrityError:
        return  # the same profile saved twice at once: the other save opened it
    await audit.record(actor_id=claimant.user_id, action="identity_case.open", subject_type="resident",
                       subject_id=claimant.id, detail={"case_id": case.id})


def declare_categories(resident: ResidentProfile, categories: list[str]) -> None:
    """What a household says of itself: kept as its declaration for the station to check, never
    as its categories. Who is 特困 or 低保 is a matter of the civil-affairs records (政策(一)), and
    the categories decide what the statistics, the visit worksheet and the policy matching count.
    A declaration that says what is already checked leaves nothing waiting."""
    categories = list(dict.fromkeys(categories))
    held = list(resident.categories or [])
    resident.declared_categories = None if sorted(categories) == sorted(held) else categories


async def check_categories(*, worker_id: int, resident: ResidentProfile, categories: list[str]) -> ResidentProfile:
    """A station worker sets the household's categories as checked (against the civil-affairs
    records, on a visit); whatever the household declared is settled by it. Audited with both."""
    # Locked and read again: the household may be saving its profile (a declaration) meanwhile.
    resident = await ResidentProfile.select_for_update().get(id=resident.id)
    before, declared = list(resident.categories or []), resident.declared_categories
    resident.categories, resident.declared_categories = list(dict.fromkeys(categories)), None
    await resident.save(update_fields=["categories", "declared_categories", "updated_at"])
    await audit.record(actor_id=worker_id, action="resident.categories_checked", subject_type="resident",
                       subject_id=resident.id, detail={"before": before, "declared": declared,
                                                       "after": resident.categories})
    return resident


async def create_on_behalf(*, worker_id: int, station_id: int, data: dict[str, Any], cipher: FieldCipher,
                           now: datetime) -> ResidentProfile:
    """A worker registers someone who has no phone of their own (机制一: 铁脚板)."""
    if data["station_id"] != station_id:
        raise OtherStation()
    check_profile(data=data)
    await _check_duplicate(cipher=cipher, id_number=data.get("id_number"), exclude_id=None)
    resident = ResidentProfile(entered_on_behalf=True, entered_by=worker_id)
    apply_profile(resident, data=data, cipher=cipher, actor_id=worker_id, now=now)
    await _save(resident)
    await audit.record(actor_id=worker_id, action="resident.create_on_behalf", subject_type="resident",
                       subject_id=resident.id)
    return resident


async def update_on_behalf(*, worker_id: int, station_id: int, resident: ResidentProfile, data: dict[str, Any],
                           cipher: FieldCipher, now: datetime) -> ResidentProfile:
    """A worker corrects a profile of their station; it may not be moved to another station here."""
    if data["station_id"] != station_id:
        # Moving a household between stations is a hand-over both stations should see (later issue).
        raise OtherStation()
    check_profile(data=data)
    await _check_duplicate(cipher=cipher, id_number=data.get("id_number"), exclude_id=resident.id)
    apply_profile(resident, data=data, cipher=cipher, actor_id=worker_id, now=now)
    await _save(resident)
    await audit.record(actor_id=worker_id, action="resident.update_on_behalf", subject_type="resident",
                       subject_id=resident.id)
    return resident


async def list_for_station(
    *, station_id: int, category: str | None, name: str | None, limit: int, offset: int,
    declared: bool = False, cipher: FieldCipher | None = None, lookup: str | None = None,
    among: list[int] | None = None,
) -> tuple[list[ResidentProfile], int]:
    """A station's active households, newest first; optionally by (checked) category, name prefix,
    or only those whose declared categories await a check. ``lookup`` (with ``cipher``) finds a
    household the way a worker is asked about it: an ID number or a phone number, exactly,
    through their blind indexes, or else a name prefix."""
    qs = ResidentProfile.filter(station_id=station_id, status="active").order_by("-id")
    if among is not None:  # only these (e.g. the households at a difficulty level)
        qs = qs.filter(id__in=among or [0])
    if lookup and cipher is not None:
        qs = qs.filter(**_lookup(lookup, cipher))
    if name:
        qs = qs.filter(name__startswith=name)
    if declared:
        qs = qs.filter(declared_categories__isnull=False)
    if category:
        # JSON containment differs between MySQL and SQLite; a station's households number in
        # the hundreds, so filtering here is cheap and the same on both.
        matching = [r for r in await qs if category in (r.categories or [])]
        return matching[offset : offset + limit], len(matching)
    return await qs.limit(limit).offset(offset), await qs.count()


def _lookup(text: str, cipher: FieldCipher) -> dict[str, str]:
    """The filter a search box's text means: 18 characters of an ID number, 11 digits of a phone
    (spaces and dashes as people type them ignored), or the start of a name."""
    compact = "".join(ch for ch in text if ch not in " -\u3000")
    if len(compact) == 18 and compact[:17].isdigit():
        try:
            number = normalize_id_number(compact)
        except ValueError:
            raise ValidationFailed("身份证号码有误,请核对后再查", details=[{"field": "q", "type": "id_number"}]) from None
        return {"id_number_index": cipher.blind_index(number, context=CTX["id_number"])}
    if len(compact) == 11 and compact.isdigit():
        return {"phone_index": cipher.blind_index(compact, context=CTX["phone"])}
    return {"name__startswith": text.strip()}


async def find_by_number(text: str, cipher: FieldCipher) -> ResidentProfile | None:
    """The household, in any station and any state, whose ID number or phone is ``text`` exactly
    (through the blind indexes); None when none is, or ``text`` is no such number."""
    where = _lookup(text, cipher)
    if "name__startswith" in where:
        return None
    return await ResidentProfile.filter(**where).first()


def masked_lookup(text: str) -> str:
    """What a search box shows back of what was searched: a number masked as lists show it."""
    compact = "".join(ch for ch in text if ch not in " -\u3000")
    if len(compact) == 18 and compact[:17].isdigit():
        return compact[:4] + "*" * 10 + compact[-4:]
    if len(compact) == 11 and compact.isdigit():
        return mask_phone(compact) or ""
    return text


async def index_phones(*, cipher: FieldCipher, batch: int = 500) -> int:
    """Give every profile with a phone but no phone index its index (profiles saved before the
    index existed); returns how many. Run by scripts/migrate; safe to run again."""
    done = 0
    while True:
        rows = await ResidentProfile.filter(phone_enc__isnull=False, phone_index__isnull=True).limit(batch)
        if not rows:
            return done
        for resident in rows:
            phone = cipher.decrypt(resident.phone_enc, context=CTX["phone"])
            await ResidentProfile.filter(id=resident.id).update(
                phone_index=cipher.blind_index(phone, context=CTX["phone"]))
        done += len(rows)


def present(resident: ResidentProfile, *, cipher: FieldCipher, masked: bool = True) -> dict[str, Any]:
    """The API form of a profile; masked unless the caller went through ``read_unmasked``."""
    today = _today()
    out: dict[str, Any] = {
        "id": resident.id,
        "masked": masked,
        "station_id": resident.station_id,
        "categories": list(resident.categories or []),
        "declared_categories": list(resident.declared_categories) if resident.declared_categories is not None else None,
        "community": resident.community,
        "gender": resident.gender,
        "age": age_on(resident.birth_date, today) if resident.birth_date else None,
        "guardian_relation": resident.guardian_relation,
        "guardian_consent_at": resident.guardian_consent_at,
        "entered_on_behalf": resident.entered_on_behalf,
        "has_account": resident.user_id is not None,
        "has_health_notes": resident.health_notes_enc is not None,
        "created_at": resident.created_at,
        "updated_at": resident.updated_at,
    }
    if masked:
        location = None
        if resident.location_enc:
            lat, lng = json.loads(cipher.decrypt(resident.location_enc, context=CTX["location"]))
            # ~1 km: enough to plan a visit from the community, not to find the door.
            location = (round(lat, 2), round(lng, 2))
        out.update(
            name=mask_name(resident.name),
            id_number=resident.id_number_masked,
            phone=resident.phone_masked,
            address=(resident.community or "") + "****" if resident.address_enc else None,
            lat=location[0] if location else None,
            lng=location[1] if location else None,
            health_notes=None,
            guardian_name=mask_name(resident.guardian_name),
            guardian_phone=mask_phone(_dec(cipher, resident.guardian_phone_enc, "guardian_phone")),
        )
    else:
        location = _dec(cipher, resident.location_enc, "location")
        lat, lng = json.loads(location) if location else (None, None)
        out.update(
            name=resident.name,
            id_number=_dec(cipher, resident.id_number_enc, "id_number"),
            phone=_dec(cipher, resident.phone_enc, "phone"),
            address=_dec(cipher, resident.address_enc, "address"),
            lat=lat,
            lng=lng,
            health_notes=_dec(cipher, resident.health_notes_enc, "health_notes"),
            guardian_name=resident.guardian_name,
            guardian_phone=_dec(cipher, resident.guardian_phone_enc, "guardian_phone"),
        )
    return out


def _dec(cipher: FieldCipher, token: str | None, field: str) -> str | None:
    return cipher.decrypt_optional(token, context=CTX[field])


async def read_unmasked(*, actor_id: int, resident: ResidentProfile, cipher: FieldCipher,
                        reason: str | None = None) -> dict[str, Any]:
    """Full values, with an audit row naming who read which fields of whom and, where the reader
    gave one (the console asks for it), why (PIPL art. 51)."""
    out = present(resident, cipher=cipher, masked=False)
    read = [f for f in UNMASKED_FIELDS if out.get(f) is not None]
    await audit.record(actor_id=actor_id, action="resident.read_unmasked", subject_type="resident",
                       subject_id=resident.id, fields=read, detail={"reason": reason} if reason else None)
    return out


async def get_own(*, user_id: int) -> ResidentProfile | None:
    return await ResidentProfile.get_or_none(user_id=user_id, status="active")




# --- identity cases: one ID number, two profiles ------------------------------------------------


async def cases_for_station(*, station_id: int, status: str | None) -> list[tuple[IdentityCase, ResidentProfile | None]]:
    """The identity cases a station sees, each with its holder: those it settles (its household
    holds the number) and those of its own households claiming another's. Open first, newest first."""
    found: list[tuple[IdentityCase, ResidentProfile | None]] = []
    if status in (None, "open"):
        cases = await IdentityCase.filter(status="open").prefetch_related("claimant")
        holders = await _holders([c.number_index for c in cases])
        found += [(c, holders.get(c.number_index)) for c in cases
                  if station_id in (c.claimant_station_id, _station_of(holders.get(c.number_index)))]
    if status in (None, "settled"):
        settled = await IdentityCase.filter(Q(station_id=station_id) | Q(claimant_station_id=station_id),
                                            status="settled").prefetch_related("claimant")
        held = {r.id: r for r in await ResidentProfile.filter(id__in=[c.holder_id for c in settled if c.holder_id])}
        found += [(c, held.get(c.holder_id)) for c in settled]
    return sorted(found, key=lambda pair: (pair[0].status != "open", -pair[0].id))


async def _holders(indexes: list[str]) -> dict[str, ResidentProfile]:
    if not indexes:
        return {}
    return {r.id_number_index: r for r in await ResidentProfile.filter(id_number_index__in=sorted(set(indexes)))}


def _station_of(resident: ResidentProfile | None) -> int | None:
    return resident.station_id if resident is not None else None


async def load_case(*, case_id: int) -> tuple[IdentityCase, ResidentProfile | None]:
    """A case and its holder: who holds the number now (open), or held it when it was settled."""
    case = await IdentityCase.get_or_none(id=case_id).prefetch_related("claimant")
    if case is None:
        raise NotFound("核实事项不存在")
    if case.status == "open":
        return case, (await _holders([case.number_index])).get(case.number_index)
    return case, await ResidentProfile.get_or_none(id=case.holder_id) if case.holder_id else None


def settling_station(case: IdentityCase, holder: ResidentProfile | None) -> int:
    """The station that settles: the holder's; the claimant's when no one holds the number any more."""
    return holder.station_id if holder is not None else case.claimant_station_id


async def settle_case(*, case: IdentityCase, holder: ResidentProfile | None, worker_id: int, outcome: str,
                      note: str | None, cipher: FieldCipher, now: datetime) -> tuple[IdentityCase, ResidentProfile | None]:
    """The holder's station says whose number it is. ``holder_keeps``: the claimant's profile loses
    the number (they are asked for their own at the next visit); ``claimant_takes``: the number
    and its index move to the claimant, the holder's profile keeps no number. Both audited."""
    if outcome not in CASE_OUTCOMES:
        raise ValidationFailed("核实结果无效", details=[{"field": "outcome", "type": "enum", "allowed": list(CASE_OUTCOMES)}])
    changed = await IdentityCase.filter(id=case.id, status="open").update(
        status="settled", outcome=outcome, note=note, settled_by=worker_id, settled_at=now, open_key=None,
        holder_id=holder.id if holder else None, station_id=settling_station(case, holder))
    if not changed:
        raise CaseSettled()
    claimant = await ResidentProfile.select_for_update().get(id=case.claimant_id)
    if outcome == "holder_keeps":
        claimant.id_number_enc = claimant.id_number_masked = None
        await claimant.save(update_fields=["id_number_enc", "id_number_masked", "updated_at"])
    else:
        if holder is not None:
            holder = await ResidentProfile.select_for_update().get(id=holder.id)
            holder.id_number_enc = holder.id_number_index = holder.id_number_masked = None
            await holder.save(update_fields=["id_number_enc", "id_number_index", "id_number_masked", "updated_at"])
        claimant.id_number_index = case.number_index
        await claimant.save(update_fields=["id_number_index", "updated_at"])
    await audit.record(actor_id=worker_id, action="identity_case.settle", subject_type="resident",
                       subject_id=case.claimant_id, detail={"case_id": case.id, "outcome": outcome,
                                                            "holder_id": holder.id if holder else None})
    return await load_case(case_id=case.id)


def present_case(case: IdentityCase, holder: ResidentProfile | None, *, cipher: FieldCipher) -> dict[str, Any]:
    """Both profiles side by side, masked (a worker unmasks either through its own audited read)."""
    return {"id": case.id, "status": case.status, "outcome": case.outcome, "note": case.note,
            "station_id": settling_station(case, holder), "claimant_station_id": case.claimant_station_id,
            "created_at": case.created_at, "settled_at": case.settled_at,
            "holder": present(holder, cipher=cipher) if holder is not None else None,
            "claimant": present(case.claimant, cipher=cipher)}
