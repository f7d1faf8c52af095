"""结对帮扶: pairing a household with a volunteer or an organisation, and the recurring tasks
generated from its schedule (once per occurrence, even with two runners at once)."""

import asyncio
from datetime import datetime, time, timedelta

from models import Need, Notification, OrgReferral, Pairing, Task, TaskClaim
from server.clock import CHINA_TZ
from server.workflow import pairings
from tests.builders import (
    grant, iso, make_admin, make_need, make_resident, make_station, make_volunteer, make_worker,
)
from tests.handlers.test_platform import assert_error
from tests.handlers.workflow.test_referrals import HOME, qualified_org


async def paired_need(client, station):
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    assert r.status_code == 200, r.text
    return need, worker, resident


def local_start(day, hhmm="09:00"):
    hh, mm = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hh, mm), CHINA_TZ)


async def test_volunteer_pairing_generates_claimed_tasks_once_per_occurrence(client, api):
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    now = api.app.ctx.clock()
    today = now.astimezone(CHINA_TZ).date()
    tomorrow = today + timedelta(days=1)
    body = {"need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": today.isoformat(),
            "schedule": {"weekdays": [tomorrow.isoweekday()], "start_time": "09:00", "minutes": 60}}
    r = await client.post("/api/v1/pairings", json=body, headers=worker.headers)
    assert r.status_code == 201, r.text
    pairing = r.json()
    assert pairing["schedule_text"] == f"每周{pairings.WEEKDAY_NAMES[tomorrow.isoweekday() - 1]} 09:00(60分钟)"
    # Within the 7-day horizon there is exactly one such weekday after today: tomorrow.
    assert len(pairing["upcoming"]) == 1 and pairing["upcoming"][0]["status"] == "claimed"
    task = await Task.get(id=pairing["upcoming"][0]["task_id"])
    assert task.scheduled_start == local_start(tomorrow)
    assert task.scheduled_end - task.scheduled_start == timedelta(minutes=60)
    assert task.occurrence_key == f"p{pairing['id']}:{tomorrow.isoformat()}"
    claim = await TaskClaim.get(task_id=task.id)
    assert claim.volunteer_id == vprofile["id"] and claim.status == "claimed"
    assert await Notification.filter(user_id=volunteer.id, event="pairing_started").count() == 1
    # Nobody else is told about the task: it is the paired volunteer's.
    assert await Notification.filter(event="task_nearby").count() == 0

    # The same run again makes nothing; a week on, the next occurrence appears.
    assert await pairings.generate(now=now, cipher=api.cipher, sla_hours=48) == 0
    assert await pairings.generate(now=now + timedelta(days=7), cipher=api.cipher, sla_hours=48) == 1
    # Two runners at once for the week after: one occurrence, made once.
    later = now + timedelta(days=14)
    made = await asyncio.gather(*(pairings.generate(now=later, cipher=api.cipher, sla_hours=48) for _ in range(2)))
    assert sum(made) == 1
    keys = await Task.filter(pairing_id=pairing["id"]).order_by("scheduled_start").values_list("occurrence_key", flat=True)
    assert keys == [f"p{pairing['id']}:{(tomorrow + timedelta(days=7 * k)).isoformat()}" for k in range(3)]


async def test_every_second_week_and_an_end_date(client, api):
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    _, vprofile = await make_volunteer(client, station, approved_by=worker)
    now = api.app.ctx.clock()
    today = now.astimezone(CHINA_TZ).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)  # next week's Monday
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": monday.isoformat(),
        "ends_on": (monday + timedelta(days=30)).isoformat(),
        "schedule": {"weekdays": [1, 4], "start_time": "14:30", "minutes": 90, "every_weeks": 2}}, headers=worker.headers)
    assert r.status_code == 201, r.text
    row = await Pairing.get(id=r.json()["id"])
    days = [d for d, _ in pairings.occurrences(row, now=now, horizon_days=60)]
    # Weeks 0 and 2 from the start (Mon + Thu), then week 4's Monday is past the end date.
    assert days == [monday, monday + timedelta(days=3), monday + timedelta(days=14), monday + timedelta(days=17),
                    monday + timedelta(days=28)]


async def test_serving_a_paired_task_keeps_the_need_open_until_the_pairing_ends(client, api):
    station = await make_station()
    need, worker, resident = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    now = api.app.ctx.clock()
    today = now.astimezone(CHINA_TZ).date()
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": today.isoformat(),
        "schedule": {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start_time": "08:00", "minutes": 60}}, headers=worker.headers)
    pairing = r.json()
    tasks = await Task.filter(pairing_id=pairing["id"]).order_by("scheduled_start")
    assert 7 <= len(tasks) <= 8  # every day from today (if 08:00 is still ahead) to today + 7
    first = tasks[0]
    real = api.app.ctx.clock
    api.app.ctx.clock = lambda: first.scheduled_start + timedelta(minutes=1)
    try:
        r = await client.post(f"/api/v1/tasks/{first.id}/check-in", json=HOME, headers=volunteer.headers)
        assert r.status_code == 200, r.text
        # The hour of service from the check-in, recorded when it ends.
        api.app.ctx.clock = lambda: first.scheduled_start + timedelta(minutes=65)
        r = await client.post(f"/api/v1/tasks/{first.id}/record", headers=volunteer.headers, json={
            "started_at": iso(first.scheduled_start + timedelta(minutes=1)),
            "ended_at": iso(first.scheduled_start + timedelta(minutes=61)),
            "summary": "打扫完毕"})
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/tasks/{first.id}/confirm", json={}, headers=worker.headers)
        assert r.status_code == 200, r.text
        assert (await Need.get(id=need["id"])).status == "in_service"
        # The volunteer ends the pairing: the rest are cancelled, the need completes.
        r = await client.post(f"/api/v1/pairings/{pairing['id']}/end", json={"reason": "搬家离开本社区"},
                              headers=volunteer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ended" and r.json()["upcoming"] == []
    finally:
        api.app.ctx.clock = real
    statuses = await Task.filter(pairing_id=pairing["id"]).order_by("scheduled_start").values_list("status", flat=True)
    assert statuses == ["confirmed"] + ["cancelled"] * (len(tasks) - 1)
    assert await TaskClaim.filter(task_id__in=[t.id for t in tasks[1:]], status="cancelled").count() == len(tasks) - 1
    assert (await Need.get(id=need["id"])).status == "completed"
    assert await pairings.generate(now=now + timedelta(days=14), cipher=api.cipher, sla_hours=48) == 0
    assert_error(await client.post(f"/api/v1/pairings/{pairing['id']}/end", json={"reason": "x"}, headers=worker.headers),
                 409, "INVALID_STATE")
    # A new pairing may follow on another open need; the ended one no longer blocks anything.
    assert await Notification.filter(user_id=volunteer.id, event="pairing_ended").count() == 1
    # The station hears that its household is left without its volunteer, to re-arrange.
    told = await Notification.filter(user_id=worker.id, event="pairing_left")
    assert len(told) == 1 and "搬家离开本社区" in told[0].body
    # That one message covers the pairing's cancelled tasks: no message per task.
    assert await Notification.filter(user_id=volunteer.id, event="claim_cancelled").count() == 0


async def test_organisation_pairing_refers_each_occurrence_and_staff_assign_their_people(client, api):
    admin = await make_admin(client)
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    org, staff = await qualified_org(client, admin, station)
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)  # one of the organisation's people
    now = api.app.ctx.clock()
    today = now.astimezone(CHINA_TZ).date()
    tomorrow = today + timedelta(days=1)
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "organization_id": org.id, "starts_on": today.isoformat(),
        "schedule": {"weekdays": [tomorrow.isoweekday()], "start_time": "10:00", "minutes": 120}}, headers=worker.headers)
    assert r.status_code == 201, r.text
    pairing = r.json()
    task = await Task.get(pairing_id=pairing["id"])
    assert task.status == "referred"
    referral = await OrgReferral.get(task_id=task.id)
    assert referral.organization_id == org.id and referral.status == "pending"
    # The organisation's staff see the pairing, and accept the occurrence with one of their people.
    assert [p["id"] for p in (await client.get("/api/v1/pairings", headers=staff.headers)).json()] == [pairing["id"]]
    r = await client.post(f"/api/v1/referrals/{referral.id}/accept", json={"assignee_user_ids": [member.id]}, headers=staff.headers)
    assert r.status_code == 200, r.text
    assert (await TaskClaim.get(task_id=task.id)).status == "claimed"
    # Ending it withdraws a pending referral of a later occurrence.
    await pairings.generate(now=now + timedelta(days=7), cipher=api.cipher, sla_hours=48)
    second = await Task.filter(pairing_id=pairing["id"]).order_by("-scheduled_start").first()
    assert second.status == "referred"
    r = await client.post(f"/api/v1/pairings/{pairing['id']}/end", json={"reason": "项目到期"}, headers=staff.headers)
    assert r.status_code == 200, r.text
    assert (await Task.get(id=second.id)).status == "cancelled"
    assert (await OrgReferral.get(task_id=second.id)).status == "withdrawn"


async def test_bad_pairings_are_refused_and_change_nothing(client, api):
    admin = await make_admin(client)
    station = await make_station()
    need, worker, resident = await paired_need(client, station)
    _, vprofile = await make_volunteer(client, station, approved_by=worker)
    _, pending = await make_volunteer(client, station)  # not approved
    expired, _ = await qualified_org(client, admin, station, expires="2020-01-01T00:00:00+08:00")
    today = api.app.ctx.clock().astimezone(CHINA_TZ).date()
    base = {"need_id": need["id"], "starts_on": today.isoformat(),
            "schedule": {"weekdays": [1], "start_time": "09:00", "minutes": 60}}
    cases = [
        ({**base}, 400, "VALIDATION_ERROR"),  # neither volunteer nor organisation
        ({**base, "volunteer_id": vprofile["id"], "organization_id": expired.id}, 400, "VALIDATION_ERROR"),
        ({**base, "volunteer_id": pending["id"]}, 400, "VALIDATION_ERROR"),
        ({**base, "organization_id": expired.id}, 409, "ORGANIZATION_NOT_QUALIFIED"),
        ({**base, "volunteer_id": vprofile["id"], "schedule": {"weekdays": [8], "start_time": "09:00", "minutes": 60}},
         400, "VALIDATION_ERROR"),
        ({**base, "volunteer_id": vprofile["id"], "schedule": {"weekdays": [1, 1], "start_time": "09:00", "minutes": 60}},
         400, "VALIDATION_ERROR"),
        ({**base, "volunteer_id": vprofile["id"], "schedule": {"weekdays": [1], "start_time": "25:00", "minutes": 60}},
         400, "VALIDATION_ERROR"),
        ({**base, "volunteer_id": vprofile["id"], "starts_on": (today - timedelta(days=1)).isoformat()}, 400,
         "VALIDATION_ERROR"),
        ({**base, "volunteer_id": vprofile["id"], "ends_on": (today - timedelta(days=1)).isoformat()}, 400,
         "VALIDATION_ERROR"),
        ({**base, "volunteer_id": vprofile["id"], "status": "ended"}, 400, "VALIDATION_ERROR"),
    ]
    for payload, status, code in cases:
        assert_error(await client.post("/api/v1/pairings", json=payload, headers=worker.headers), status, code)
    assert await Pairing.all().count() == 0 and await Task.all().count() == 0
    # A worker of another station does not see the need at all.
    other = await make_worker(client, await make_station())
    assert_error(await client.post("/api/v1/pairings", json={**base, "volunteer_id": vprofile["id"]}, headers=other.headers),
                 404, "NOT_FOUND")
    # 助浴 needs the skill: a volunteer without it cannot be paired for it.
    bath_need = await make_need(client, resident, service_code="CLEAN_BATH")
    await client.post(f"/api/v1/needs/{bath_need['id']}/accept", headers=worker.headers)
    assert_error(await client.post("/api/v1/pairings", json={**base, "need_id": bath_need["id"], "volunteer_id": vprofile["id"]},
                                   headers=worker.headers), 403, "SKILL_REQUIRED")
    # One active pairing per need.
    ok = await client.post("/api/v1/pairings", json={**base, "volunteer_id": vprofile["id"]}, headers=worker.headers)
    assert ok.status_code == 201
    assert_error(await client.post("/api/v1/pairings", json={**base, "volunteer_id": vprofile["id"]}, headers=worker.headers),
                 409, "PAIRING_EXISTS")


async def test_who_sees_and_ends_a_pairing(client, api):
    station = await make_station()
    need, worker, resident = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    stranger, _ = await make_volunteer(client, station, approved_by=worker)
    admin = await make_admin(client)
    today = api.app.ctx.clock().astimezone(CHINA_TZ).date()
    pairing = (await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": today.isoformat(),
        "schedule": {"weekdays": [3], "start_time": "09:00", "minutes": 60}}, headers=worker.headers)).json()
    for session in (worker, volunteer, resident, admin):
        r = await client.get(f"/api/v1/pairings/{pairing['id']}", headers=session.headers)
        assert r.status_code == 200, r.text
    # The household sees who comes (masked), not the volunteer's id.
    assert (await client.get(f"/api/v1/pairings/{pairing['id']}", headers=resident.headers)).json()["volunteer_id"] is None
    assert [p["id"] for p in (await client.get("/api/v1/pairings", headers=resident.headers)).json()] == [pairing["id"]]
    assert (await client.get("/api/v1/pairings", headers=stranger.headers)).json() == []
    assert_error(await client.get(f"/api/v1/pairings/{pairing['id']}", headers=stranger.headers), 404, "NOT_FOUND")
    for session in (resident, admin):
        assert_error(await client.post(f"/api/v1/pairings/{pairing['id']}/end", json={"reason": "x"}, headers=session.headers),
                     403, "FORBIDDEN")
    assert (await Pairing.get(id=pairing["id"])).status == "active"


async def _pair_daily(client, worker, need, vprofile, starts_on):
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": starts_on.isoformat(),
        "schedule": {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start_time": "09:00", "minutes": 60}}, headers=worker.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_pairing_that_cannot_generate_is_reported_once_and_the_others_go_on(client, api):
    from server.ops import jobs

    station = await make_station()
    broken_need, worker, _ = await paired_need(client, station)
    _, va = await make_volunteer(client, station, approved_by=worker)
    now = api.app.ctx.clock()
    starts = now.astimezone(CHINA_TZ).date() + timedelta(days=10)
    broken = await _pair_daily(client, worker, broken_need, va, starts)
    healthy_need, _, _ = await paired_need(client, station)
    _, vb = await make_volunteer(client, station, approved_by=worker)
    healthy = await _pair_daily(client, worker, healthy_need, vb, starts)
    # A pairing left behind by an older release: its need rejected while the pairing stayed active.
    await Need.filter(id=broken_need["id"]).update(status="rejected", open_key=None)
    later = now + timedelta(days=9)
    out = await jobs.run_all(settings=api.settings, now=later)
    assert out["pairing_tasks"] >= 1
    assert await Task.filter(pairing_id=healthy["id"]).count() == out["pairing_tasks"]
    assert await Task.filter(pairing_id=broken["id"]).count() == 0
    told = await Notification.filter(user_id=worker.id, event="pairing_stalled")
    assert len(told) == 1 and str(broken["id"]) in told[0].page
    # The next runs go on too, and do not tell the station again.
    await jobs.run_all(settings=api.settings, now=later + timedelta(days=1))
    await jobs.run_all(settings=api.settings, now=later + timedelta(days=2))
    assert await Notification.filter(user_id=worker.id, event="pairing_stalled").count() == 1
    # (paired_need made a second worker of the station, told the same once)
    assert await Notification.filter(event="pairing_stalled").count() == 2
    assert await Task.filter(pairing_id=healthy["id"]).count() > out["pairing_tasks"]


async def test_rejecting_a_need_ends_its_pairing(client, api):
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    starts = api.app.ctx.clock().astimezone(CHINA_TZ).date() + timedelta(days=10)
    pairing = await _pair_daily(client, worker, need, vprofile, starts)
    r = await client.post(f"/api/v1/needs/{need['id']}/reject", json={"reason": "不符合条件"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    row = await Pairing.get(id=pairing["id"])
    assert row.status == "ended" and row.active_key is None
    assert await Notification.filter(user_id=volunteer.id, event="pairing_ended").count() == 1


async def test_a_service_in_use_by_an_active_pairing_cannot_be_retired(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, service_code="LIVING_MEAL")
    await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker, skills=["LIVING_MEAL"])
    starts = api.app.ctx.clock().astimezone(CHINA_TZ).date() + timedelta(days=1)
    pairing = await _pair_daily(client, worker, need, vprofile, starts)
    err = assert_error(await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "retired"},
                                          headers=admin.headers), 409, "SERVICE_IN_USE")
    assert err["details"]["pairing_ids"] == [pairing["id"]]
    r = await client.get("/api/v1/catalog/services")
    assert "LIVING_MEAL" in {s["code"] for s in r.json()}
    # Other edits are fine, and once the pairing has ended the service may go.
    r = await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"description": "送餐上门"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/pairings/{pairing['id']}/end", json={"reason": "改由机构服务"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    r = await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "retired"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "retired"


async def test_a_retired_service_is_not_paired_for_even_when_both_happen_at_once(client, api):
    """A need asked for a service later retired: a worker can no longer set up regular visits for it
    (their tasks could never be made), and a retirement racing a pairing either sees the pairing
    (409 SERVICE_IN_USE) or keeps it from being made (409 SERVICE_RETIRED), never neither."""
    import asyncio

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    starts = api.app.ctx.clock().astimezone(CHINA_TZ).date() + timedelta(days=1)
    for round_ in range(4):
        await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "active"}, headers=admin.headers)
        resident, _ = await make_resident(client, station)
        need = await make_need(client, resident, service_code="LIVING_MEAL")
        await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
        _, vprofile = await make_volunteer(client, station, approved_by=worker, skills=["LIVING_MEAL"])
        body = {"need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": starts.isoformat(),
                "schedule": {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start_time": "09:00", "minutes": 60}}
        paired, retired = await asyncio.gather(
            client.post("/api/v1/pairings", json=body, headers=worker.headers),
            client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "retired"}, headers=admin.headers))
        outcome = (paired.status_code, retired.status_code)
        assert outcome in ((201, 409), (409, 200)), (round_, paired.text, retired.text)
        if outcome == (409, 200):
            assert paired.json()["error"]["code"] == "SERVICE_RETIRED"
            assert not await Pairing.filter(need_id=need["id"], status="active").exists()
        else:
            assert retired.json()["error"]["code"] == "SERVICE_IN_USE"
            await client.post(f"/api/v1/pairings/{paired.json()['id']}/end", json={"reason": "x"}, headers=worker.headers)
    # Retired for good: a pairing asked for afterwards, for a need accepted before, is refused.
    await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "active"}, headers=admin.headers)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, service_code="LIVING_MEAL")
    await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    _, vprofile = await make_volunteer(client, station, approved_by=worker, skills=["LIVING_MEAL"])
    await client.patch("/api/v1/admin/services/LIVING_MEAL", json={"status": "retired"}, headers=admin.headers)
    r = await client.post("/api/v1/pairings", json={**body, "need_id": need["id"], "volunteer_id": vprofile["id"]},
                          headers=worker.headers)
    assert_error(r, 409, "SERVICE_RETIRED")


async def test_cancelling_a_paired_need_tells_the_paired_volunteer(client, api):
    station = await make_station()
    need, worker, resident = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    today = api.app.ctx.clock().astimezone(CHINA_TZ).date()
    pairing = await _pair_daily(client, worker, need, vprofile, today)
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "搬走了"}, headers=resident.headers)
    assert r.status_code == 200, r.text
    assert (await Pairing.get(id=pairing["id"])).status == "ended"
    assert await Notification.filter(user_id=volunteer.id, event="pairing_ended").count() == 1
    # Each of the generated (claimed) tasks' claims was cancelled; the pairing's end told the
    # volunteer of them all, once.
    cancelled = await TaskClaim.filter(task__pairing_id=pairing["id"], status="cancelled").count()
    assert cancelled >= 1 and cancelled == await Task.filter(pairing_id=pairing["id"]).count()
    assert await Notification.filter(user_id=volunteer.id, event="claim_cancelled").count() == 0


async def test_the_station_hears_when_the_paired_volunteer_gives_an_occurrence_back(client, api):
    """The paired volunteer releasing an occurrence puts it in the open pool; the station, who
    arranged the pairing and now has a visit with no one coming, is told. A different volunteer
    who later claims and releases the same occurrence is only themselves: no second message."""
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker)
    today = api.app.ctx.clock().astimezone(CHINA_TZ).date()
    tomorrow = today + timedelta(days=1)
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": today.isoformat(),
        "schedule": {"weekdays": [tomorrow.isoweekday()], "start_time": "09:00", "minutes": 60}}, headers=worker.headers)
    assert r.status_code == 201, r.text
    task_id = r.json()["upcoming"][0]["task_id"]
    r = await client.post(f"/api/v1/tasks/{task_id}/release", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(event="assignee_unserved")
    assert [n.user_id for n in told] == [worker.id] and "结对志愿者" in told[0].body
    other, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task_id}/claim", headers=other.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task_id}/release", headers=other.headers)).status_code == 200
    assert await Notification.filter(event="assignee_unserved").count() == 1


async def test_ending_a_pairing_with_the_longest_reason_ends_its_claimed_tasks(client, api):
    """The reason allowed (200 characters) still fits where the ended claims keep it."""
    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    _, vprofile = await make_volunteer(client, station, approved_by=worker)
    today = api.app.ctx.clock().astimezone(CHINA_TZ).date()
    body = {"need_id": need["id"], "volunteer_id": vprofile["id"], "starts_on": today.isoformat(),
            "schedule": {"weekdays": [(today + timedelta(days=1)).isoweekday()], "start_time": "09:00", "minutes": 60}}
    r = await client.post("/api/v1/pairings", json=body, headers=worker.headers)
    assert r.status_code == 201, r.text
    reason = "家" * 200
    r = await client.post(f"/api/v1/pairings/{r.json()['id']}/end", json={"reason": reason}, headers=worker.headers)
    assert r.status_code == 200, r.text
    claim = await TaskClaim.get(volunteer_id=vprofile["id"])
    assert claim.status == "cancelled" and claim.ended_reason == ("结对结束:" + reason)[:200]
