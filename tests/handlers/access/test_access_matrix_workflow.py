"""Every route of the service workflow × every role.

The world: station A with a household (``owner``), its need with a claimed task (claimed by
``claimant``) and an open task, and a second, just-submitted need. ``volunteer`` is approved but
holds no claim; ``worker_b`` works at station B and must learn nothing about A.
"""

from types import SimpleNamespace

import pytest

from models import UserRole
from tests.builders import bulk_volunteers, fast_login, iso, make_need, make_organization, make_task, resident_payload, soon
from tests.handlers.access.matrix_support import DISTRICT_ROLES, Worlds, district_sessions, station_apart, with_districts
from tests.handlers.workflow.test_catalogue_uploads import tiny_png

# Built once for the module (matrix_support.Worlds): the per-test cleanup leaves its tables alone.
pytestmark = pytest.mark.shared_world

ROLES = ["anonymous", "resident", "owner", "volunteer", "claimant", "worker_a", "worker_b", "org_staff", "admin",
         *DISTRICT_ROLES]
SIGNED_IN = set(ROLES) - {"anonymous"}
HOME = {"lat": 37.512345, "lng": 122.121234}


async def _check_in(w, client):
    r = await client.post(f"/api/v1/tasks/{w.claimed_task}/check-in", json=HOME, headers=w.s["claimant"].headers)
    assert r.status_code == 200, r.text


async def _submit(w, client):
    await _check_in(w, client)
    r = await client.post(f"/api/v1/tasks/{w.claimed_task}/record",
                          json={"started_at": iso(soon(0)), "ended_at": iso(soon(3)), "summary": "完成"},
                          headers=w.s["claimant"].headers)
    assert r.status_code == 200, r.text


async def _photo(w, client):
    await _check_in(w, client)
    r = await client.post("/api/v1/uploads", files={"file": ("p.png", tiny_png(), "image/png")},
                          headers=w.s["claimant"].headers)
    assert r.status_code == 201, r.text
    w.photo_id = r.json()["id"]
    r = await client.post(f"/api/v1/tasks/{w.claimed_task}/record",
                          json={"started_at": iso(soon(0)), "ended_at": iso(soon(3)), "summary": "完成",
                                "photos": [w.photo_id]}, headers=w.s["claimant"].headers)
    assert r.status_code == 200, r.text


# The matrix's records last three minutes, under their service's minimum: confirming them takes a reason.
SHORT_REASON = {"reason": "短时服务,已核实"}


async def _complete(w, client):
    await _submit(w, client)
    r = await client.post(f"/api/v1/tasks/{w.claimed_task}/confirm", json=SHORT_REASON, headers=w.s["worker_a"].headers)
    assert r.status_code == 200, r.text
    # The open task lies days ahead: the station withdraws it, which completes the need.
    r = await client.post(f"/api/v1/tasks/{w.open_task}/cancel", json={"reason": "已不需要"}, headers=w.s["worker_a"].headers)
    assert r.status_code == 200, r.text


MANAGE = {"owner": 403, "admin": 403, "*": 404}
CLAIMANT_ONLY = {"worker_a": 403, "owner": 403, "admin": 403, "*": 404}
VOLUNTEERS = {"volunteer", "claimant"}

# (name, method, path, body, allowed, denied, prepare)
ROUTES = [
    ("catalog", "GET", lambda w: "/api/v1/catalog/services", None, set(ROLES), None, None),
    ("needs.create_on_behalf", "POST", lambda w: "/api/v1/needs",
     lambda w: {"service_code": "LIVING_SHOP", "description": "代购", "resident_id": w.resident_id, "source": "visit"},
     {"worker_a"}, MANAGE, None),
    ("needs.list", "GET", lambda w: "/api/v1/needs", None, SIGNED_IN, None, None),
    ("needs.get", "GET", lambda w: f"/api/v1/needs/{w.need}", None, {"owner", "worker_a", "admin"}, {"*": 404}, None),
    ("needs.accept", "POST", lambda w: f"/api/v1/needs/{w.fresh_need}/accept", None, {"worker_a"}, MANAGE, None),
    ("needs.reject", "POST", lambda w: f"/api/v1/needs/{w.fresh_need}/reject", lambda w: {"reason": "重复"},
     {"worker_a"}, MANAGE, None),
    ("needs.cancel", "POST", lambda w: f"/api/v1/needs/{w.fresh_need}/cancel", lambda w: {},
     {"owner", "worker_a"}, {"admin": 403, "*": 404}, None),
    ("needs.tasks", "POST", lambda w: f"/api/v1/needs/{w.need}/tasks",
     lambda w: {"title": "再派一个", "scheduled_start": iso(soon(60 * 24 * 3)), "scheduled_end": iso(soon(60 * 24 * 3 + 60))},
     {"worker_a"}, MANAGE, None),
    ("needs.rating", "POST", lambda w: f"/api/v1/needs/{w.need}/rating", lambda w: {"score": 4, "would_use_again": True},
     {"owner", "worker_a"}, {"admin": 403, "*": 404}, "complete"),
    ("needs.follow_up", "POST", lambda w: f"/api/v1/needs/{w.need}/follow-up", lambda w: {"note": "已电话回访"},
     {"worker_a"}, MANAGE, "low_rating"),
    ("complaints.create", "POST", lambda w: "/api/v1/complaints", lambda w: {"subject": "station", "text": "服务不及时"},
     {"owner", "volunteer", "claimant"}, {"*": 403}, None),
    ("complaints.list", "GET", lambda w: "/api/v1/complaints", None, SIGNED_IN, None, None),
    ("deadlines.list", "GET", lambda w: "/api/v1/deadlines", None, {"worker_a", "worker_b", "admin"}, {"*": 403}, None),
    ("complaints.get", "GET", lambda w: f"/api/v1/complaints/{w.complaint}", None, {"owner", "worker_a", "admin"},
     {"*": 404}, "complaint"),
    ("complaints.answer", "POST", lambda w: f"/api/v1/complaints/{w.complaint}/answer", lambda w: {"text": "已核实"},
     {"worker_a"}, {"owner": 403, "admin": 403, "*": 404}, "complaint"),
    ("complaints.accept", "POST", lambda w: f"/api/v1/complaints/{w.complaint}/accept", None,
     {"owner"}, {"worker_a": 403, "admin": 403, "*": 404}, "answered"),
    ("complaints.reopen", "POST", lambda w: f"/api/v1/complaints/{w.complaint}/reopen", lambda w: {"reason": "仍未解决"},
     {"owner"}, {"worker_a": 403, "admin": 403, "*": 404}, "answered"),
    ("needs.timeline", "GET", lambda w: f"/api/v1/needs/{w.need}/timeline", None, {"owner", "worker_a", "admin"},
     {"*": 404}, None),
    ("tasks.open", "GET", lambda w: "/api/v1/tasks/open", None, VOLUNTEERS, {"*": 403}, None),
    ("tasks.mine", "GET", lambda w: "/api/v1/tasks/mine", None, VOLUNTEERS, {"*": 403}, None),
    # Each worker's own station's tasks (worker_b's list holds none of A's: test_workflow).
    ("tasks.station", "GET", lambda w: "/api/v1/tasks/station", None, {"worker_a", "worker_b"}, {"*": 403}, None),
    ("tasks.get_open", "GET", lambda w: f"/api/v1/tasks/{w.open_task}", None,
     {"owner", "volunteer", "claimant", "worker_a", "admin"}, {"*": 404}, None),
    ("tasks.get_claimed", "GET", lambda w: f"/api/v1/tasks/{w.claimed_task}", None,
     {"owner", "claimant", "worker_a", "admin"}, {"*": 404}, None),
    ("tasks.claim", "POST", lambda w: f"/api/v1/tasks/{w.open_task}/claim", None, VOLUNTEERS,
     {"worker_a": 403, "*": 403}, None),
    ("tasks.release", "POST", lambda w: f"/api/v1/tasks/{w.claimed_task}/release", None, {"claimant"}, CLAIMANT_ONLY, None),
    ("tasks.check_in", "POST", lambda w: f"/api/v1/tasks/{w.claimed_task}/check-in", lambda w: HOME,
     {"claimant"}, CLAIMANT_ONLY, None),
    ("tasks.record", "POST", lambda w: f"/api/v1/tasks/{w.claimed_task}/record",
     lambda w: {"started_at": iso(soon(0)), "ended_at": iso(soon(3)), "summary": "完成"},
     {"claimant"}, CLAIMANT_ONLY, "check_in"),
    ("tasks.confirm", "POST", lambda w: f"/api/v1/tasks/{w.claimed_task}/confirm", lambda w: SHORT_REASON,
     {"worker_a"}, {"owner": 403, "admin": 403, "claimant": 403, "*": 404}, "submit"),
    ("tasks.reject_record", "POST", lambda w: f"/api/v1/tasks/{w.claimed_task}/reject-record", lambda w: {"reason": "补充"},
     {"worker_a"}, {"owner": 403, "admin": 403, "claimant": 403, "*": 404}, "submit"),
    ("tasks.cancel", "POST", lambda w: f"/api/v1/tasks/{w.open_task}/cancel", lambda w: {"reason": "不需要了"},
     {"worker_a"}, {"owner": 403, "admin": 403, "volunteer": 403, "claimant": 403, "*": 404}, None),
    ("tasks.delivery_way", "PUT", lambda w: f"/api/v1/tasks/{w.open_task}/delivery-way",
     lambda w: {"delivery_way": "neighbour"},
     {"worker_a"}, {"owner": 403, "admin": 403, "volunteer": 403, "claimant": 403, "*": 404}, None),
    ("tasks.bulk_confirm", "POST", lambda w: "/api/v1/tasks/confirm", lambda w: {"ids": [w.claimed_task]},
     {"worker_a", "worker_b"}, {"*": 403}, "submit"),
    ("residents.qr_plate", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/qr-plate", None, {"worker_a"},
     {"worker_b": 404, "*": 403}, None),
    # Needs assessment
    ("questionnaire.get", "GET", lambda w: "/api/v1/assessment/questionnaire", None, {"worker_a", "worker_b", "admin"},
     {"*": 403}, None),
    ("questionnaire.publish", "PUT", lambda w: "/api/v1/admin/questionnaire", lambda w: _questionnaire(), {"admin"},
     {"*": 403}, None),
    ("assessments.create", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/assessments",
     lambda w: {"answers": _hard(), "visited_at": iso(soon(-30))}, {"worker_a"}, MANAGE, None),
    ("assessments.list", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/assessments", None, {"worker_a", "admin"},
     {"worker_b": 404, "*": 403}, None),
    ("ranking", "GET", lambda w: f"/api/v1/stations/{w.station_a}/ranking", None, {"worker_a", "admin"},
     {"worker_b": 404, "*": 403}, None),
    ("reassessments", "GET", lambda w: f"/api/v1/stations/{w.station_a}/reassessments", None, {"worker_a", "admin"},
     {"worker_b": 404, "*": 403}, None),
    ("residents.visit_worksheet", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/visit-worksheet", None,
     {"worker_a"}, MANAGE, None),
    ("ranking.district", "GET", lambda w: f"/api/v1/districts/{w.district_a}/ranking", None, {"admin"}, {"*": 403}, None),
    ("ranking.city", "GET", lambda w: "/api/v1/ranking", None, {"admin"}, {"*": 403}, None),
    ("recommendations", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/recommendations", None, {"worker_a"},
     MANAGE, None),
    ("recommendations.need", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/recommendations/needs",
     lambda w: {"rule": "alone_disabled", "service_code": "HEALTH_CHECK"}, {"worker_a"}, MANAGE, "assess"),
    # Policies
    ("policies.list", "GET", lambda w: "/api/v1/policies", None, SIGNED_IN, {"*": 401}, None),
    ("policies.create", "POST", lambda w: "/api/v1/admin/policies",
     lambda w: {"title": "t", "issuer": "i", "kind": "charity_project", "eligibility": {"category": "低保"}}, {"admin"},
     {"*": 403}, None),
    ("policies.update", "PUT", lambda w: f"/api/v1/admin/policies/{w.policy_id}",
     lambda w: {"title": "t2", "issuer": "i", "kind": "charity_project", "eligibility": {"category": "低保"}}, {"admin"},
     {"*": 403}, None),
    ("policies.eligible", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/eligible-policies", None, {"worker_a"},
     MANAGE, None),
    ("policies.refer", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/policy-referrals",
     lambda w: {"policy_id": w.policy_id, "outcome": "referred"}, {"worker_a"}, MANAGE, None),
    ("stats.overview", "GET", lambda w: f"/api/v1/stats/overview?scope=station&id={w.station_a}&from="
     f"{_q(soon(-600))}&to={_q(soon(600))}", None, {"worker_a", "admin"}, {"*": 403}, None),
    # Referral to organisations
    ("tasks.refer", "POST", lambda w: f"/api/v1/tasks/{w.open_task}/refer", lambda w: {"organization_id": w.org_id},
     {"worker_a"}, {"owner": 403, "admin": 403, "volunteer": 403, "claimant": 403, "*": 404}, None),
    ("referrals.list", "GET", lambda w: "/api/v1/referrals", None, {"org_staff", "worker_a", "worker_b"}, {"*": 403}, None),
    ("referrals.accept", "POST", lambda w: f"/api/v1/referrals/{w.referral_id}/accept",
     lambda w: {"assignee_user_ids": [w.org_member]}, {"org_staff"},
     {"*": 403}, "refer"),
    ("referrals.decline", "POST", lambda w: f"/api/v1/referrals/{w.referral_id}/decline", lambda w: {"reason": "忙"},
     {"org_staff"}, {"*": 403}, "refer"),
    ("admin.organizations.patch", "PATCH", lambda w: f"/api/v1/admin/organizations/{w.org_id}", lambda w: {"services": ["CLEAN_HOME"]},
     {"admin"}, {"*": 403}, None),
    # Ledgers (台账): workers export their own station, admins any; full data only the station's.
    *[(f"ledgers.{kind}", "GET", lambda w, kind=kind: f"/api/v1/ledgers/{kind}?from={_q(soon(-600))}&to={_q(soon(600))}",
       None, {"worker_a", "worker_b", "admin"}, {"*": 403}, None)
      for kind in ("needs", "points", "service_records", "volunteer_hours", "assessments", "project_kpis", "exits",
                   "complaints")],
    ("ledgers.unmasked", "GET", lambda w: f"/api/v1/ledgers/needs?from={_q(soon(-600))}&to={_q(soon(600))}&unmasked=true",
     None, {"worker_a", "worker_b"}, {"*": 403}, None),
    # Pairing (结对帮扶): the claimant is the paired volunteer.
    ("pairings.create", "POST", lambda w: "/api/v1/pairings", lambda w: _pairing_body(w), {"worker_a"}, MANAGE,
     "accept_fresh"),
    ("pairings.list", "GET", lambda w: "/api/v1/pairings", None, SIGNED_IN, None, None),
    ("pairings.get", "GET", lambda w: f"/api/v1/pairings/{w.pairing_id}", None, {"worker_a", "claimant", "owner", "admin"},
     {"*": 404}, "pair"),
    ("pairings.end", "POST", lambda w: f"/api/v1/pairings/{w.pairing_id}/end", lambda w: {"reason": "结束"},
     {"worker_a", "claimant"}, {"owner": 403, "admin": 403, "*": 404}, "pair"),
    ("uploads", "POST", lambda w: "/api/v1/uploads", "png", SIGNED_IN, None, None),
    # A service record's photo: its uploader, the station's workers (who confirm it), admins.
    ("uploads.get", "GET", lambda w: f"/api/v1/uploads/{w.photo_id}", None, {"claimant", "worker_a", "admin"},
     {"*": 404}, "photo"),
    ("admin.services.create", "POST", lambda w: "/api/v1/admin/services",
     lambda w: {"code": "MATRIX_TEST", "category_code": "LINK", "name": "测试"}, {"admin"}, {"*": 403}, None),
    ("admin.services.patch", "PATCH", lambda w: "/api/v1/admin/services/LINK_LEGAL", lambda w: {"points_per_hour": 16},
     {"admin"}, {"*": 403}, None),
    # 部门联动: departments kept by administrators; a task referred to one, its answer recorded by the station.
    ("admin.departments.list", "GET", lambda w: "/api/v1/admin/departments", None, {"admin"}, {"*": 403}, None),
    ("admin.departments.create", "POST", lambda w: "/api/v1/admin/departments",
     lambda w: {"name": "市民政局", "contact_person": "李主任", "contact_phone": "0631-5201234", "services": ["CLEAN_HOME"]},
     {"admin"}, {"*": 403}, None),
    ("admin.departments.patch", "PATCH", lambda w: f"/api/v1/admin/departments/{w.department_id}",
     lambda w: {"sla_hours": 24}, {"admin"}, {"*": 403}, "department"),
    ("tasks.department_referral", "POST", lambda w: f"/api/v1/tasks/{w.open_task}/department-referral",
     lambda w: {"department_id": w.department_id, "note": "请部门上门"},
     {"worker_a"}, {"owner": 403, "admin": 403, "volunteer": 403, "claimant": 403, "*": 404}, "department"),
    ("department_referrals.list", "GET", lambda w: "/api/v1/department-referrals", None, {"worker_a", "worker_b"},
     {"*": 403}, None),
    ("department_referrals.outcome", "POST", lambda w: f"/api/v1/department-referrals/{w.department_referral_id}/outcome",
     lambda w: {"outcome": "returned", "note": "部门无法安排"}, {"worker_a"}, {"admin": 403, "*": 404},
     "department_referral"),
    # 邻里互助: the volunteer registered as the household's neighbour helper, and a task handed to them.
    ("residents.neighbour_helpers.list", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/neighbour-helpers", None,
     {"owner", "worker_a", "admin"}, {"*": 404}, None),
    ("residents.neighbour_helpers.create", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/neighbour-helpers",
     lambda w: {"volunteer_id": w.helper_profile, "note": "同楼邻居"}, {"worker_a"}, MANAGE, "helper"),
    ("residents.neighbour_helpers.end", "DELETE",
     lambda w: f"/api/v1/residents/{w.resident_id}/neighbour-helpers/{w.helper_profile}", None, {"worker_a"}, MANAGE,
     "neighbour_tie"),
    ("tasks.neighbour", "POST", lambda w: f"/api/v1/tasks/{w.open_task}/neighbour",
     lambda w: {"volunteer_id": w.helper_profile},
     {"worker_a"}, {"owner": 403, "admin": 403, "volunteer": 403, "claimant": 403, "*": 404}, "neighbour_tie"),
]

# District administrators (matrix_support.with_districts): district_a keeps station A's district and
# reads its records as the city's administrators do (and, like them, does not do the station's
# work); district_b cannot find them.
_SEEN = ("ok", 404)          # a record of station A, read
_STATION_WORK = (403, 404)   # a record of station A, the station's to act on
_NOT_THEIRS = (403, 403)     # a role's own route (workers', volunteers', the city's)
_ANYONE = ("ok", "ok")
DISTRICTS = {
    "catalog": _ANYONE, "needs.create_on_behalf": _STATION_WORK, "needs.list": _ANYONE, "needs.get": _SEEN,
    "needs.accept": _STATION_WORK, "needs.reject": _STATION_WORK, "needs.cancel": _STATION_WORK,
    "needs.tasks": _STATION_WORK, "needs.rating": _STATION_WORK, "needs.follow_up": _STATION_WORK,
    "complaints.create": _NOT_THEIRS, "complaints.list": _ANYONE,
    # Their own district's late-work notices (none of station A's reach district_b).
    "deadlines.list": _ANYONE,
    "complaints.get": _SEEN, "complaints.answer": _STATION_WORK, "complaints.accept": _STATION_WORK,
    "complaints.reopen": _STATION_WORK, "needs.timeline": _SEEN,
    "tasks.open": _NOT_THEIRS, "tasks.mine": _NOT_THEIRS, "tasks.station": _NOT_THEIRS,
    "tasks.get_open": _SEEN, "tasks.get_claimed": _SEEN, "tasks.claim": _NOT_THEIRS,
    "tasks.release": _STATION_WORK, "tasks.check_in": _STATION_WORK, "tasks.record": _STATION_WORK,
    "tasks.confirm": _STATION_WORK, "tasks.reject_record": _STATION_WORK, "tasks.cancel": _STATION_WORK,
    "tasks.delivery_way": _STATION_WORK, "tasks.bulk_confirm": _NOT_THEIRS, "residents.qr_plate": _NOT_THEIRS,
    "questionnaire.get": _ANYONE, "questionnaire.publish": _NOT_THEIRS,
    "assessments.create": _STATION_WORK, "assessments.list": _SEEN, "ranking": _SEEN, "reassessments": _SEEN,
    "residents.visit_worksheet": _STATION_WORK, "ranking.district": _SEEN, "ranking.city": _NOT_THEIRS,
    "recommendations": _STATION_WORK, "recommendations.need": _STATION_WORK,
    "policies.list": _ANYONE, "policies.create": _NOT_THEIRS, "policies.update": _NOT_THEIRS,
    "policies.eligible": _STATION_WORK, "policies.refer": _STATION_WORK,
    "stats.overview": _SEEN,
    "tasks.refer": _STATION_WORK, "referrals.list": _NOT_THEIRS, "referrals.accept": _NOT_THEIRS,
    "referrals.decline": _NOT_THEIRS,
    # A city-wide organisation: the city's to keep.
    "admin.organizations.patch": _NOT_THEIRS,
    # Each district's own stations' ledgers; full personal data only for the station.
    **{f"ledgers.{kind}": _ANYONE for kind in ("needs", "points", "service_records", "volunteer_hours", "assessments",
                                                "project_kpis", "exits", "complaints")},
    "ledgers.unmasked": _NOT_THEIRS,
    "pairings.create": _STATION_WORK, "pairings.list": _ANYONE, "pairings.get": _SEEN, "pairings.end": _STATION_WORK,
    "uploads": _ANYONE, "uploads.get": (404, 404),
    "admin.services.create": _NOT_THEIRS, "admin.services.patch": _NOT_THEIRS,
    # 部门联动: a district keeps its own departments and reads the city's (the world's is the city's:
    # not a district's to change); a referral is the station's work.
    "admin.departments.list": _ANYONE, "admin.departments.create": _ANYONE,
    "admin.departments.patch": _NOT_THEIRS, "tasks.department_referral": _STATION_WORK,
    "department_referrals.list": _NOT_THEIRS, "department_referrals.outcome": _STATION_WORK,
    # 邻里互助: a household's helpers, read by its district; registered, ended and dispatched to by the station.
    "residents.neighbour_helpers.list": _SEEN, "residents.neighbour_helpers.create": _STATION_WORK,
    "residents.neighbour_helpers.end": _STATION_WORK, "tasks.neighbour": _STATION_WORK,
}
ROUTES_BY_ROLE = with_districts(ROUTES, DISTRICTS)


async def _refer(w, client):
    r = await client.post(f"/api/v1/tasks/{w.open_task}/refer", json={"organization_id": w.org_id}, headers=w.s["worker_a"].headers)
    assert r.status_code == 201, r.text
    w.referral_id = r.json()["id"]


async def _accept_fresh(w, client):
    from models import VolunteerProfile

    r = await client.post(f"/api/v1/needs/{w.fresh_need}/accept", headers=w.s["worker_a"].headers)
    assert r.status_code == 200, r.text
    w.claimant_profile = (await VolunteerProfile.get(user_id=w.s["claimant"].id)).id


def _pairing_body(w):
    from datetime import datetime

    from server.clock import CHINA_TZ

    today = datetime.now(CHINA_TZ).date()
    return {"need_id": w.fresh_need, "volunteer_id": w.claimant_profile, "starts_on": today.isoformat(),
            "schedule": {"weekdays": [6], "start_time": "09:00", "minutes": 60}}


async def _pair(w, client):
    await _accept_fresh(w, client)
    r = await client.post("/api/v1/pairings", json=_pairing_body(w), headers=w.s["worker_a"].headers)
    assert r.status_code == 201, r.text
    w.pairing_id = r.json()["id"]


async def _assess(w, client):
    from tests.handlers.care.test_assessments import HARD

    r = await client.post(f"/api/v1/residents/{w.resident_id}/assessments", json={"answers": HARD, "visited_at": iso(soon(-30))},
                          headers=w.s["worker_a"].headers)
    assert r.status_code == 201, r.text


def _q(dt) -> str:
    from urllib.parse import quote

    return quote(dt.isoformat())


def _hard():
    from tests.handlers.care.test_assessments import HARD

    return HARD


def _questionnaire():
    from config.data import QUESTIONNAIRE

    return {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}


async def _complaint(w, client):
    r = await client.post("/api/v1/complaints", json={"subject": "service", "subject_id": w.need, "text": "来得太晚"},
                          headers=w.s["owner"].headers)
    assert r.status_code == 201, r.text
    w.complaint = r.json()["id"]


async def _answered(w, client):
    await _complaint(w, client)
    r = await client.post(f"/api/v1/complaints/{w.complaint}/answer", json={"text": "已核实,致歉"},
                          headers=w.s["worker_a"].headers)
    assert r.status_code == 200, r.text


async def _low_rating(w, client):
    await _complete(w, client)
    r = await client.post(f"/api/v1/needs/{w.need}/rating", json={"score": 1, "would_use_again": False},
                          headers=w.s["owner"].headers)
    assert r.status_code == 200, r.text


PREPARE = {"complaint": _complaint, "answered": _answered, "low_rating": _low_rating, "check_in": _check_in, "submit": _submit, "complete": _complete, "assess": _assess, "refer": _refer,
           "accept_fresh": _accept_fresh, "pair": _pair, "photo": _photo}


async def _department(w, client):
    r = await client.post("/api/v1/admin/departments", json={
        "name": "区卫生健康局", "contact_person": "王科长", "contact_phone": "0631-5200000", "sla_hours": 48,
        "services": ["CLEAN_HOME"]}, headers=w.s["admin"].headers)
    assert r.status_code == 201, r.text
    w.department_id = r.json()["id"]


async def _department_referral(w, client):
    await _department(w, client)
    r = await client.post(f"/api/v1/tasks/{w.open_task}/department-referral", json={"department_id": w.department_id},
                          headers=w.s["worker_a"].headers)
    assert r.status_code == 201, r.text
    w.department_referral_id = r.json()["id"]


async def _helper(w, client):
    from models import VolunteerProfile

    w.helper_profile = (await VolunteerProfile.get(user_id=w.s["volunteer"].id)).id


async def _neighbour_tie(w, client):
    await _helper(w, client)
    r = await client.post(f"/api/v1/residents/{w.resident_id}/neighbour-helpers",
                          json={"volunteer_id": w.helper_profile, "note": "同楼邻居"}, headers=w.s["worker_a"].headers)
    assert r.status_code == 201, r.text


PREPARE.update(department=_department, department_referral=_department_referral, helper=_helper,
               neighbour_tie=_neighbour_tie)


async def _build_world(client, api):
    a, b = await station_apart(), await station_apart()
    s = {
        "resident": await fast_login(api),
        "owner": await fast_login(api),
        "worker_a": await fast_login(api, "worker", station_id=a.id),
        "worker_b": await fast_login(api, "worker", station_id=b.id),
        "admin": await fast_login(api, "admin"),
        **await district_sessions(api, a, b),
    }
    quals = [{"kind": k, "document": "d.pdf", "expires_at": "2030-01-01T00:00:00+08:00"}
             for k in ("legal_capacity", "staff", "facilities", "finance")]
    org = await make_organization(services=["CLEAN_HOME"], station_ids=[a.id], qualifications=quals)
    s["org_staff"] = await fast_login(api, "org_staff", organization_id=org.id)
    s["volunteer"], s["claimant"], member = await bulk_volunteers(api, a, 3)
    await UserRole.create(user_id=member.id, role="org_staff", organization_id=org.id)  # serves the org's referrals
    r = await client.put("/api/v1/me/resident", json=resident_payload(a), headers=s["owner"].headers)
    resident_id = r.json()["id"]
    # The station has checked what the household declared (recommendation rules read categories).
    r = await client.put(f"/api/v1/residents/{resident_id}/categories",
                         json={"categories": resident_payload(a)["categories"]}, headers=s["worker_a"].headers)
    assert r.status_code == 200, r.text
    need = await make_need(client, s["owner"])
    claimed = await make_task(client, s["worker_a"], need)
    open_task = await make_task(client, s["worker_a"], need, accept=False,
                                scheduled_start=iso(soon(60 * 24 * 2)), scheduled_end=iso(soon(60 * 24 * 2 + 60)))
    r = await client.post(f"/api/v1/tasks/{claimed['id']}/claim", headers=s["claimant"].headers)
    assert r.status_code == 200, r.text
    fresh = await make_need(client, s["owner"], service_code="LIVING_MEAL")
    from models import Policy

    policy = await Policy.create(title="p", issuer="i", kind="government_policy", eligibility={"category": "特困"})
    return SimpleNamespace(s=s, resident_id=resident_id, station_a=a.id, district_a=a.district_id, policy_id=policy.id, org_id=org.id, org_member=member.id, need=need["id"], fresh_need=fresh["id"],
                           claimed_task=claimed["id"], open_task=open_task["id"])


# What these change is no world's own: the questionnaire every assessment answers, the service
# catalogue. Each runs after everything is emptied.
ISOLATED = {"questionnaire.publish", "admin.services.create", "admin.services.patch"}


@pytest.fixture(scope="module")
async def worlds(api, reset_state):
    await reset_state()  # the module starts from empty tables, as each test did
    return Worlds(api, reset_state, _build_world, prepare=PREPARE, isolated=ISOLATED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES_BY_ROLE, ids=[r[0] for r in ROUTES_BY_ROLE])
async def test_workflow_route_by_role(client, world, route, role):
    name, method, path, body, allowed, denied, prepare = route  # the world comes prepared
    headers = world.s[role].headers if role != "anonymous" else {}
    if body == "png":
        r = await client.request(method, path(world), files={"file": ("p.png", tiny_png(), "image/png")}, headers=headers)
    else:
        r = await client.request(method, path(world), json=body(world) if body else None, headers=headers)
    if role in allowed:
        assert 200 <= r.status_code < 300, f"{name} as {role}: {r.status_code} {r.text}"
    elif role == "anonymous":
        assert r.status_code == 401, f"{name} anonymous: {r.status_code} {r.text}"
    else:
        expected = denied.get(role, denied.get("*"))
        assert r.status_code == expected, f"{name} as {role}: {r.status_code} {r.text}"
        assert "error" in r.json()


@pytest.mark.parametrize("route", [r for r in ROUTES if callable(r[3])], ids=[r[0] for r in ROUTES if callable(r[3])])
async def test_workflow_mass_assignment_is_refused(client, world, route):
    from tests.handlers.access.matrix_support import assert_mass_assignment_refused, first_allowed

    name, method, path, body, allowed, denied, prepare = route  # the world comes prepared
    role = first_allowed(allowed)
    await assert_mass_assignment_refused(client, method, path(world), body(world), world.s[role].headers)
