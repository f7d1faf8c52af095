"""Demo data: idempotent, and every demo account can do what README.md says it can (its demo logins
table and its walkthrough), through the API, logged in as the WeChat stand-in allows in embedded
mode: the login code ``fake:<openid>``."""

from datetime import datetime, timedelta, timezone

import pytest_asyncio

from models import (
    CLAIM_ACTIVE, AuditLog, District, Need, Pairing, Redemption, ResidentProfile, Reward, Station, Task, TaskClaim,
    User, UserRole, VolunteerProfile,
)
from server.ops import demo
from server.points import ledger
from tests.builders import iso, login
from tests.handlers.care.test_assessments import HARD
from tests.handlers.test_platform import assert_error
from tests.server.notifications.test_notifications import drain, standin_messages

# Resident 1's home, where the README's walkthrough browses and checks in.
RESIDENT_1_HOME = {"lat": 37.5138, "lng": 122.1227}


@pytest_asyncio.fixture
async def world(api):
    """The demo world, freshly seeded into the empty test database."""
    await demo.seed(cipher=api.cipher, settings=api.settings)


async def resident_id(i: int) -> int:
    return (await ResidentProfile.get(user__openid=f"demo-resident-{i}")).id


def window(hours: int = 48) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"from": (now - timedelta(hours=hours)).isoformat(), "to": (now + timedelta(hours=hours)).isoformat()}


async def test_seed_is_idempotent_and_complete(api, client):
    first = await demo.seed(cipher=api.cipher, settings=api.settings)
    second = await demo.seed(cipher=api.cipher, settings=api.settings)
    assert first == second == {"districts": 2, "stations": 3, "users": 15}
    assert await District.all().count() == 2 and await Station.all().count() == 3
    assert await VolunteerProfile.filter(status="approved").count() == 5
    assert await ResidentProfile.all().count() == 5
    categories = {c for r in await ResidentProfile.all() for c in r.categories}
    assert {"特困", "低保", "事实无人抚养", "重残"} <= categories
    workers = await UserRole.filter(role="worker").values_list("station_id", flat=True)
    assert sorted(workers) == sorted(await Station.all().values_list("id", flat=True))
    assert await UserRole.exists(role="admin", user__openid="demo-admin")
    # 环翠区's own administrator, over stations 1 and 2.
    district_admin = await UserRole.get(role="district_admin", user__openid="demo-district-1")
    assert (await District.get(id=district_admin.district_id)).name == "环翠区"

    r = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:demo-worker-1"})
    assert r.status_code == 200
    user = r.json()["user"]
    assert "worker" in user["roles"] and user["station_id"]
    token = r.json()["token"]
    listed = await client.get("/api/v1/residents", headers={"Authorization": f"Bearer {token}"})
    assert listed.json()["total"] >= 1
    assert await User.filter(openid__startswith="demo-").count() == 15

    # The workflow is alive: needs and tasks in several states, once.
    assert sorted(await Need.all().values_list("status", flat=True)) == [
        "closed", "dispatched", "dispatched", "dispatched", "rejected", "submitted"]
    assert sorted(await Task.filter(pairing_id=None).values_list("status", flat=True)) == [
        "claimed", "confirmed", "open"]
    # The paired lunch delivery (every Wednesday): the next week's one or two occurrences, all the
    # volunteer's, which leaves them room under the claim limit.
    pairing = await Pairing.get(status="active")
    paired = await Task.filter(pairing_id=pairing.id).values_list("status", flat=True)
    assert 1 <= len(paired) <= 2 < api.settings.claim_limit and set(paired) == {"claimed"}
    volunteer = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:demo-volunteer-1"})
    open_tasks = await client.get("/api/v1/tasks/open",
                                  headers={"Authorization": f"Bearer {volunteer.json()['token']}"})
    assert len(open_tasks.json()["items"]) == 1

    # Rewards with stock, and points history for the demo volunteers.
    headers = {"Authorization": f"Bearer {volunteer.json()['token']}"}
    assert len((await client.get("/api/v1/rewards", headers=headers)).json()) == 3
    me = (await client.get("/api/v1/points/me", headers=headers)).json()
    assert me["balance"] == 10
    assert await Redemption.all().count() == 1 and await ledger.reconcile() == []


async def test_every_demo_volunteer_can_browse_and_claim_an_open_task(client, world, api):
    cleaning = await Task.get(title="居室打扫")
    for i in range(1, 6):
        volunteer = await login(client, f"demo-volunteer-{i}")
        held = await TaskClaim.filter(volunteer__user_id=volunteer.id, status__in=CLAIM_ACTIVE).count()
        assert held < api.settings.claim_limit, f"volunteer {i} is at the claim limit"
        offered = (await client.get("/api/v1/tasks/open", headers=volunteer.headers)).json()["items"]
        assert cleaning.id in [t["id"] for t in offered], f"volunteer {i} is not offered the open task"
        r = await client.post(f"/api/v1/tasks/{cleaning.id}/claim", headers=volunteer.headers)
        assert r.status_code == 200, (i, r.text)
        assert r.json()["my_claim"]["status"] == "claimed" and r.json()["status"] == "claimed"
        # Given back, so that the next demo volunteer finds it open again.
        r = await client.post(f"/api/v1/tasks/{cleaning.id}/release", headers=volunteer.headers)
        assert r.status_code == 200, (i, r.text)
    assert (await Task.get(id=cleaning.id)).status == "open"


async def test_the_workers_and_the_admin_can_do_what_the_logins_table_says(client, world):
    runs = {1: {1, 4}, 2: {2, 5}, 3: {3}}
    for i, households in runs.items():
        worker = await login(client, f"demo-worker-{i}")
        listed = (await client.get("/api/v1/residents", headers=worker.headers)).json()["items"]
        assert {r["id"] for r in listed} == {await resident_id(h) for h in households}, i

    # Worker 1: assesses its household and exports its station's ledger.
    worker1 = await login(client, "demo-worker-1")
    r = await client.post(f"/api/v1/residents/{await resident_id(1)}/assessments", headers=worker1.headers,
                          json={"answers": HARD, "visited_at": iso(datetime.now(timezone.utc) - timedelta(hours=1))})
    assert r.status_code == 201, r.text
    r = await client.get("/api/v1/ledgers/needs", params=window(), headers=worker1.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")

    # Worker 2: resident 2's urgent meal request waits for it, and it can accept it.
    worker2 = await login(client, "demo-worker-2")
    r = await client.get("/api/v1/needs", params={"status": "submitted"}, headers=worker2.headers)
    waiting = r.json()["items"]
    assert [(n["resident_id"], n["service_code"], n["urgency"]) for n in waiting] == [
        (await resident_id(2), "LIVING_MEAL", "urgent")]
    r = await client.post(f"/api/v1/needs/{waiting[0]['id']}/accept", headers=worker2.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"

    # The administrator: the admin routes, and statistics, rankings and ledgers for any scope.
    admin = await login(client, "demo-admin")
    assert len((await client.get("/api/v1/admin/districts", headers=admin.headers)).json()) == 2
    r = await client.get("/api/v1/stats/overview", params={"scope": "city", **window()}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/ranking", headers=admin.headers)).status_code == 200
    for station in await Station.all():
        r = await client.get("/api/v1/ledgers/needs", params={"station_id": station.id, **window()},
                             headers=admin.headers)
        assert r.status_code == 200, r.text


async def test_the_volunteers_and_households_hold_what_the_logins_table_says(client, world):
    mine = {}
    for i in range(1, 6):
        volunteer = await login(client, f"demo-volunteer-{i}")
        mine[i] = (await client.get("/api/v1/tasks/mine", headers=volunteer.headers)).json()["items"]
        # Welcome points, 10 × their number; volunteer 3 also earned the tutoring's award (an hour
        # at 12 points and the first-service bonus of 20), volunteer 5 spent 15 on the haircut.
        balance = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["balance"]
        assert balance == 10 * i + {3: 12 + 20, 5: -15}.get(i, 0), i
        if i == 1:
            pairings = (await client.get("/api/v1/pairings", headers=volunteer.headers)).json()
            shown = [(p["resident_id"], p["service_code"], p["schedule"]["weekdays"], p["status"]) for p in pairings]
            assert shown == [(await resident_id(1), "LIVING_MEAL", [3], "active")]
        if i == 5:
            redemptions = (await client.get("/api/v1/redemptions/mine", headers=volunteer.headers)).json()
            haircut = await Reward.get(name="社区理发券")
            assert [(r["reward_id"], r["status"]) for r in redemptions] == [(haircut.id, "pending")]
    assert {(t["title"], t["my_claim"]["status"]) for t in mine[1]} == {("结对送餐", "claimed")}
    assert [(t["title"], t["my_claim"]["status"]) for t in mine[2]] == [("陪同就医", "claimed")]
    assert [(t["title"], t["my_claim"]["status"]) for t in mine[3]] == [("课业辅导", "confirmed")]
    # An hour of tutoring, over the service's minimum: confirmed without a reason.
    assert mine[3][0]["claims"][0]["verified_minutes"] == 60
    assert mine[4] == []

    needs = {}
    for i in range(1, 6):
        household = await login(client, f"demo-resident-{i}")
        r = await client.get("/api/v1/needs", headers=household.headers)
        needs[i] = {n["service_code"]: n for n in r.json()["items"]}
    assert set(needs[1]) == {"CLEAN_HOME", "LIVING_MEAL"} and needs[1]["CLEAN_HOME"]["status"] == "dispatched"
    cleaning = await Task.get(need_id=needs[1]["CLEAN_HOME"]["id"])
    assert cleaning.status == "open" and cleaning.scheduled_start > datetime.now(timezone.utc)
    assert (needs[2]["LIVING_MEAL"]["status"], needs[2]["LIVING_MEAL"]["urgency"]) == ("submitted", "urgent")
    assert (await Task.get(need_id=needs[3]["HEALTH_MEDICAL_ESCORT"]["id"])).status == "claimed"
    assert needs[4]["SUPPORT_TUTOR"]["status"] == "closed" and needs[4]["SUPPORT_TUTOR"]["rating"]["score"] == 5
    assert (needs[5]["LINK_LEGAL"]["status"], needs[5]["LINK_LEGAL"]["status_reason"]) == ("rejected", "已转介至区法律援助中心")


async def test_the_readme_walkthrough_runs_on_fresh_demo_data(client, world, api, standin):
    res, wrk, vol = [await login(client, f"demo-{who}") for who in ("resident-1", "worker-1", "volunteer-4")]
    templates = (await client.get("/api/v1/subscriptions/templates")).json()["template_ids"]
    r = await client.post("/api/v1/subscriptions", json={"accepted": templates}, headers=vol.headers)
    assert r.status_code == 200, r.text

    # 1. The resident asks for help. 2. The worker accepts it. 3. ... and dispatches a task.
    r = await client.post("/api/v1/needs", json={"service_code": "LIVING_SHOP", "description": "腿脚不便,需要代买米和油"},
                          headers=res.headers)
    assert r.status_code == 201, r.text
    need = r.json()["id"]
    assert (await client.post(f"/api/v1/needs/{need}/accept", headers=wrk.headers)).json()["status"] == "accepted"
    now = datetime.now(timezone.utc)
    r = await client.post(f"/api/v1/needs/{need}/tasks", headers=wrk.headers, json={
        "title": "代买米油", "scheduled_start": iso(now), "scheduled_end": iso(now + timedelta(hours=2))})
    assert r.status_code == 201, r.text
    task = r.json()["id"]
    # 4. The volunteer browses near the household: the new task and resident 1's cleaning task.
    offered = (await client.get("/api/v1/tasks/open", params=RESIDENT_1_HOME, headers=vol.headers)).json()["items"]
    assert {t["title"] for t in offered} == {"代买米油", "居室打扫"}
    # 5.-7. ... claims it, checks in at the home and records five minutes of service.
    assert (await client.post(f"/api/v1/tasks/{task}/claim", headers=vol.headers)).json()["status"] == "claimed"
    arrived = datetime.now(timezone.utc)
    r = await client.post(f"/api/v1/tasks/{task}/check-in", json=RESIDENT_1_HOME, headers=vol.headers)
    assert r.json()["status"] == "checked_in", r.text
    r = await client.post(f"/api/v1/tasks/{task}/record", headers=vol.headers, json={
        "started_at": iso(arrived), "ended_at": iso(arrived + timedelta(minutes=5)), "summary": "买了米和油,送到家中"})
    assert r.json()["status"] == "submitted", r.text
    # 8. The worker's queue flags it, a confirmation without a reason is refused, one with a reason goes through.
    r = await client.get("/api/v1/tasks/station", params={"status": "submitted"}, headers=wrk.headers)
    queue = r.json()["items"]
    assert [(t["id"], t["min_minutes"], t["short_service"]) for t in queue] == [(task, 10, True)]
    assert_error(await client.post(f"/api/v1/tasks/{task}/confirm", json={}, headers=wrk.headers),
                 422, "SHORT_SERVICE_REASON_REQUIRED")
    r = await client.post(f"/api/v1/tasks/{task}/confirm", json={"reason": "米油已送到,老人电话确认"}, headers=wrk.headers)
    assert r.json()["status"] == "confirmed", r.text
    # 9. The volunteer's points, and the need's history.
    me = (await client.get("/api/v1/points/me", headers=vol.headers)).json()
    assert {k: me[k] for k in ("balance", "earned", "verified_minutes")} == {
        "balance": 65, "earned": 65, "verified_minutes": 5}
    events = (await client.get(f"/api/v1/needs/{need}/timeline", headers=res.headers)).json()["events"]
    assert (events[-1]["subject"], events[-1]["from"], events[-1]["to"]) == ("need", "in_service", "completed")
    assert [e["reason"] for e in events if e["subject"] == "claim" and e["to"] == "confirmed"] == ["米油已送到,老人电话确认"]
    claim = r.json()["claims"][0]["id"]
    audited = await AuditLog.filter(action="claim.confirm_short", subject_type="claim", subject_id=claim)
    assert [(a.actor_id, a.detail["reason"]) for a in audited] == [(wrk.id, "米油已送到,老人电话确认")]
    # 10. What WeChat received: one message, the points, to the volunteer (the only one subscribed).
    await drain(api)
    sent = [(m["body"]["touser"], m["body"]["template_id"]) for m in await standin_messages(standin)]
    assert sent == [("demo-volunteer-4", "TPL_POINTS")]
