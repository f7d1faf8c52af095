"""Every route of Haibei points, rewards, credit export and notifications × every role."""

import uuid
from types import SimpleNamespace

import pytest

from models import PointsEntry
from server.points import consent
from tests.builders import bulk_volunteers, fast_login, give_points, make_organization, make_reward
from tests.handlers.access.matrix_support import DISTRICT_ROLES, Worlds, district_sessions, station_apart, with_districts

# Built once for the module (matrix_support.Worlds): the per-test cleanup leaves its tables alone.
pytestmark = pytest.mark.shared_world

ROLES = ["anonymous", "resident", "volunteer", "worker_a", "worker_b", "org_staff", "admin", *DISTRICT_ROLES]
SIGNED_IN = set(ROLES) - {"anonymous"}
ADMIN_ONLY = ({"admin"}, {"*": 403})


def _idem(w):
    return {"Idempotency-Key": uuid.uuid4().hex}


ROUTES = [
    ("points.me", "GET", lambda w: "/api/v1/points/me", None, SIGNED_IN, None),
    ("points.entries", "GET", lambda w: "/api/v1/points/me/entries", None, SIGNED_IN, None),
    ("points.accounts", "GET", lambda w: "/api/v1/points/accounts", None, {"worker_a", "worker_b", "admin"}, {"*": 403}),
    ("points.reversal", "POST", lambda w: "/api/v1/points/reversals", lambda w: {"entry_id": w.award_id, "reason": "核查"},
     {"worker_a", "admin"}, {"worker_b": 404, "*": 403}),
    ("rules.get", "GET", lambda w: "/api/v1/admin/points-rules", None, *ADMIN_ONLY),
    ("rules.put", "PUT", lambda w: "/api/v1/admin/points-rules",
     lambda w: {"min_per_service": 5, "urgent_bonus": 5, "first_service_bonus": 20, "daily_cap": 60}, *ADMIN_ONLY),
    ("points.adjust", "POST", lambda w: "/api/v1/admin/points/adjustments",
     lambda w: {"user_id": w.s["volunteer"].id, "amount": 3, "reason": "补录"}, *ADMIN_ONLY),
    ("leaderboard", "GET", lambda w: "/api/v1/leaderboard?scope=city", None, SIGNED_IN, None),
    ("rewards.list", "GET", lambda w: "/api/v1/rewards", None, SIGNED_IN, None),
    ("rewards.redeem", "POST", lambda w: f"/api/v1/rewards/{w.reward_id}/redeem", None, SIGNED_IN, None),
    ("redemptions.mine", "GET", lambda w: "/api/v1/redemptions/mine", None, SIGNED_IN, None),
    ("redemptions.cancel", "POST", lambda w: f"/api/v1/redemptions/{w.redemption_id}/cancel", None, {"volunteer"}, {"*": 404}),
    ("redemptions.wxacode", "GET", lambda w: f"/api/v1/redemptions/{w.redemption_id}/wxacode", None, {"volunteer"}, {"*": 404}),
    ("redemptions.fulfil", "POST", lambda w: "/api/v1/redemptions/fulfil", lambda w: {"code": w.pickup_code},
     {"worker_a"}, {"*": 403}),
    ("admin.rewards.create", "POST", lambda w: "/api/v1/admin/rewards",
     lambda w: {"name": "券", "donor": "某店", "price": 5, "stock": 1, "valid_from": "2026-01-01T00:00:00+08:00",
                "valid_until": "2030-01-01T00:00:00+08:00"}, *ADMIN_ONLY),
    ("admin.rewards.patch", "PATCH", lambda w: f"/api/v1/admin/rewards/{w.reward_id}", lambda w: {"add_stock": 1}, *ADMIN_ONLY),
    ("admin.credit.export", "POST", lambda w: "/api/v1/admin/credit-exports", None, *ADMIN_ONLY),
    ("admin.credit.batch", "GET", lambda w: f"/api/v1/admin/credit-exports/{w.credit_batch_id}", None, *ADMIN_ONLY),
    ("admin.credit.transfer", "POST", lambda w: f"/api/v1/admin/credit-exports/{w.credit_batch_id}/transfer",
     lambda w: {"password": "transfer-pass-2026"}, *ADMIN_ONLY),
    # The consent to the link to 信用威海: anyone signed in reads it and may withdraw (nothing to
    # withdraw is no error); only an approved volunteer consents.
    ("credit.consent.get", "GET", lambda w: "/api/v1/me/credit-consent", None, SIGNED_IN, None),
    ("credit.consent.give", "POST", lambda w: "/api/v1/me/credit-consent", lambda w: {"version": consent.current_version()},
     {"volunteer"}, {"*": 403}),
    ("credit.consent.withdraw", "DELETE", lambda w: "/api/v1/me/credit-consent", None, SIGNED_IN, None),
    # Hours certificates: the volunteer's own; one for a volunteer by their station or an
    # administrator; and the check by code, public by design (the code is the secret).
    ("certificate.mine", "GET", lambda w: "/api/v1/me/hours-certificate", None, {"volunteer"}, {"*": 403}),
    ("certificate.volunteer", "GET", lambda w: f"/api/v1/volunteers/{w.volunteer_profile_id}/hours-certificate", None,
     {"worker_a", "admin"}, {"worker_b": 404, "*": 403}),
    ("certificate.verify", "GET", lambda w: f"/api/v1/certificates/{w.certificate_code}", None, set(ROLES), None),
    # Projects: the world's are bought by station A's district.
    ("admin.projects.create", "POST", lambda w: "/api/v1/admin/projects",
     lambda w: {"name": "项目", "organization_id": w.org_id, "budget_fen": 100, "starts_at": "2026-01-01T00:00:00+08:00",
                "ends_at": "2027-01-01T00:00:00+08:00", "services": ["CLEAN_HOME"], "station_ids": [w.station_id]}, *ADMIN_ONLY),
    ("admin.projects.get", "GET", lambda w: f"/api/v1/admin/projects/{w.project_id}", None, *ADMIN_ONLY),
    ("admin.projects.step", "POST", lambda w: f"/api/v1/admin/projects/{w.project_id}/steps",
     lambda w: {"to": "approved", "note": "立项", "targets": {"tasks_done": 1}}, *ADMIN_ONLY),
    ("admin.projects.list", "GET", lambda w: "/api/v1/admin/projects", None, *ADMIN_ONLY),
    ("admin.audit.read", "GET", lambda w: "/api/v1/admin/audit", None, *ADMIN_ONLY),
    ("admin.audit.export", "GET", lambda w: "/api/v1/admin/audit/export", None, *ADMIN_ONLY),
    ("admin.projects.pay", "POST", lambda w: f"/api/v1/admin/projects/{w.running_project_id}/payments",
     lambda w: {"kind": "advance", "amount_fen": 1}, *ADMIN_ONLY),
    ("admin.projects.acceptance", "GET", lambda w: f"/api/v1/admin/projects/{w.project_id}/acceptance", None,
     *ADMIN_ONLY),
    # Notifications
    ("subscriptions.templates", "GET", lambda w: "/api/v1/subscriptions/templates", None, set(ROLES), None),
    ("subscriptions.grant", "POST", lambda w: "/api/v1/subscriptions", lambda w: {"accepted": ["TPL_POINTS"]}, SIGNED_IN, None),
    ("notifications.inbox", "GET", lambda w: "/api/v1/notifications", None, SIGNED_IN, None),
    ("notifications.read", "POST", lambda w: "/api/v1/notifications/read", lambda w: {"all": True}, SIGNED_IN, None),
    ("content.reviews", "GET", lambda w: "/api/v1/content/reviews", None, {"worker_a", "worker_b"}, {"*": 403}),
    # A flag held at station A: its workers resolve it; station B's cannot even find it.
    ("content.resolve", "POST", lambda w: f"/api/v1/content/reviews/{w.flag_id}/resolve", None, {"worker_a"},
     {"worker_b": 404, "*": 403}),
    ("outbox.dead", "GET", lambda w: "/api/v1/admin/outbox/dead", None, *ADMIN_ONLY),
    ("outbox.retry", "POST", lambda w: "/api/v1/admin/outbox/retry", lambda w: {"ids": [1]}, *ADMIN_ONLY),
    ("volunteer.nearby", "PUT", lambda w: "/api/v1/me/volunteer/nearby", lambda w: {"lat": 37.5, "lng": 122.1, "radius_km": 3},
     {"volunteer"}, {"*": 404}),
]


_ANYONE = ("ok", "ok")
_NOT_THEIRS = (403, 403)
# District administrators (matrix_support.with_districts): district_a keeps station A's district,
# where the world's projects are bought; points rules, rewards, the credit handoff and the outbox
# are the city's.
DISTRICTS = {
    "points.me": _ANYONE, "points.entries": _ANYONE, "points.accounts": _NOT_THEIRS, "points.reversal": _NOT_THEIRS,
    "rules.get": _NOT_THEIRS, "rules.put": _NOT_THEIRS, "points.adjust": _NOT_THEIRS, "leaderboard": _ANYONE,
    "rewards.list": _ANYONE, "rewards.redeem": _ANYONE, "redemptions.mine": _ANYONE,
    "redemptions.cancel": (404, 404), "redemptions.wxacode": (404, 404), "redemptions.fulfil": _NOT_THEIRS,
    "admin.rewards.create": _NOT_THEIRS, "admin.rewards.patch": _NOT_THEIRS,
    "admin.credit.export": _NOT_THEIRS, "admin.credit.batch": _NOT_THEIRS, "admin.credit.transfer": _NOT_THEIRS,
    "credit.consent.get": _ANYONE, "credit.consent.give": _NOT_THEIRS, "credit.consent.withdraw": _ANYONE,
    "certificate.mine": _NOT_THEIRS, "certificate.volunteer": ("ok", 404), "certificate.verify": _ANYONE,
    "admin.projects.create": ("ok", 404), "admin.projects.get": ("ok", 404), "admin.projects.step": ("ok", 404),
    "admin.projects.list": _ANYONE, "admin.audit.read": _ANYONE, "admin.audit.export": _ANYONE,
    "admin.projects.pay": ("ok", 404), "admin.projects.acceptance": ("ok", 404),
    "subscriptions.templates": _ANYONE, "subscriptions.grant": _ANYONE, "notifications.inbox": _ANYONE,
    "notifications.read": _ANYONE, "content.reviews": _NOT_THEIRS, "content.resolve": _NOT_THEIRS,
    "outbox.dead": _NOT_THEIRS, "outbox.retry": _NOT_THEIRS, "volunteer.nearby": (404, 404),
}
ROUTES_BY_ROLE = with_districts(ROUTES, DISTRICTS)


async def _build_world(client, api):
    a, b = await station_apart(), await station_apart()
    s = {
        "resident": await fast_login(api),
        "worker_a": await fast_login(api, "worker", station_id=a.id),
        "worker_b": await fast_login(api, "worker", station_id=b.id),
        "org_staff": await fast_login(api, "org_staff", organization_id=(await make_organization()).id),
        "admin": await fast_login(api, "admin"),
        **await district_sessions(api, a, b),
    }
    (s["volunteer"],) = await bulk_volunteers(api, a, 1)
    for session in s.values():
        await give_points(api, session, 50)
    award = await PointsEntry.filter(account__user_id=s["volunteer"].id).first()
    reward = await make_reward(price=10, stock=100, per_person_limit=10, pickup_station_ids=[a.id])
    r = await client.post(f"/api/v1/rewards/{reward.id}/redeem", headers={**s["volunteer"].headers, **_idem(None)})
    assert r.status_code == 201, r.text
    from datetime import datetime, timezone

    from models import Project

    org_row = await make_organization(qualifications=[
        {"kind": k, "document": f"{k}.pdf", "expires_at": "2030-01-01T00:00:00+08:00"}
        for k in ("legal_capacity", "staff", "facilities", "finance")])
    project = await Project.create(name="p", organization_id=org_row.id, budget_fen=1, created_by=s["admin"].id,
                                   starts_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                   ends_at=datetime(2027, 1, 1, tzinfo=timezone.utc), services=["CLEAN_HOME"],
                                   station_ids=[a.id], district_id=a.district_id)
    running = await Project.create(name="q", organization_id=org_row.id, budget_fen=1000, created_by=s["admin"].id,
                                   starts_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                   ends_at=datetime(2027, 1, 1, tzinfo=timezone.utc), services=["CLEAN_HOME"],
                                   station_ids=[a.id], status="approved", district_id=a.district_id)
    from models import ContentFlag, CreditBatch, CreditIncrement

    now = datetime.now(timezone.utc)
    flag = await ContentFlag.create(station_id=a.id, subject_type="need", subject_id=1, field="description",
                                    verdict="review", reason="risky", author_id=s["resident"].id, created_at=now)
    batch = await CreditBatch.create(created_by=s["admin"].id, created_at=now, count=1)
    await CreditIncrement.create(batch_id=batch.id, user_id=s["volunteer"].id, volunteer_id=1, threshold_hours=10,
                                 increment=1, hours=10.5, evidence_task_ids=[])
    from models import HoursCertificate, VolunteerProfile
    from server.reports import certificates

    profile = await VolunteerProfile.get(user_id=s["volunteer"].id)
    certificate = await HoursCertificate.create(
        code=certificates.new_code(), user_id=profile.user_id, volunteer_id=profile.id, issued_by=profile.user_id,
        issued_at=now, snapshot={"name_masked": "志***", "station_name": "驿站", "years": [], "total_minutes": 0})
    return SimpleNamespace(s=s, flag_id=flag.id, credit_batch_id=batch.id, volunteer_profile_id=profile.id,
                           certificate_code=certificate.code, org_id=org_row.id, station_id=a.id, project_id=project.id, running_project_id=running.id, award_id=award.id, reward_id=reward.id, redemption_id=r.json()["id"],
                           pickup_code=r.json()["pickup_code"])


# What these change is no world's own: the city's points rules, the credit export (it takes every
# volunteer's hours not exported yet), the outbox. Each runs after everything is emptied.
ISOLATED = {"rules.put", "admin.credit.export", "outbox.retry"}


@pytest.fixture(scope="module")
async def worlds(api, reset_state):
    await reset_state()  # the module starts from empty tables, as each test did
    return Worlds(api, reset_state, _build_world, isolated=ISOLATED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES_BY_ROLE, ids=[r[0] for r in ROUTES_BY_ROLE])
async def test_points_route_by_role(client, world, route, role):
    name, method, path, body, allowed, denied = route
    headers = {**world.s[role].headers, **_idem(world)} if role != "anonymous" else _idem(world)
    r = await client.request(method, path(world), json=body(world) if body else None, headers=headers)
    if role in allowed:
        assert 200 <= r.status_code < 300, f"{name} as {role}: {r.status_code} {r.text}"
    elif role == "anonymous":
        assert r.status_code == 401, f"{name} anonymous: {r.status_code} {r.text}"
    else:
        expected = denied.get(role, denied.get("*"))
        assert r.status_code == expected, f"{name} as {role}: {r.status_code} {r.text}"


@pytest.mark.parametrize("route", [r for r in ROUTES if callable(r[3])], ids=[r[0] for r in ROUTES if callable(r[3])])
async def test_points_mass_assignment_is_refused(client, world, route):
    from tests.handlers.access.matrix_support import assert_mass_assignment_refused, first_allowed

    name, method, path, body, allowed, denied = route
    role = first_allowed(allowed)
    await assert_mass_assignment_refused(client, method, path(world), body(world),
                                         {**world.s[role].headers, **_idem(world)})
