"""Referral of tasks to provider organisations: qualifications, accept with assignment, decline,
SLA escalation on a controlled clock."""

from datetime import timedelta

from models import OrgReferral, Task, TaskClaim
from server.workflow import referrals
from tests.builders import (
    grant, iso, login, make_admin, make_open_task, make_organization, make_station, make_volunteer, soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def qualified_org(client, admin, station, *, expires="2030-01-01T00:00:00+08:00", services=("CLEAN_HOME",)):
    org = await make_organization()
    quals = [{"kind": k, "document": f"{k}.pdf", "expires_at": expires} for k in referrals.QUALIFICATIONS]
    r = await client.patch(f"/api/v1/admin/organizations/{org.id}", json={"services": list(services), "station_ids": [station.id],
                                                                          "qualifications": quals}, headers=admin.headers)
    assert r.status_code == 200, r.text
    staff = await grant(await login(client), "org_staff", organization_id=org.id)
    return org, staff


async def test_refer_accept_with_an_assigned_person_who_then_serves(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)  # one of the organisation's people
    stranger, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    referral = r.json()
    assert (await Task.get(id=task["id"])).status == "referred"
    # While referred, volunteers cannot take it.
    browsing, _ = await make_volunteer(client, station, approved_by=worker)
    assert task["id"] not in [t["id"] for t in (await client.get("/api/v1/tasks/open", headers=browsing.headers)).json()["items"]]
    listed = (await client.get("/api/v1/referrals", headers=staff.headers)).json()
    assert [x["id"] for x in listed] == [referral["id"]]
    # A volunteer who is not the organisation's is not theirs to assign: nothing changes.
    r = await client.post(f"/api/v1/referrals/{referral['id']}/accept", json={"assignee_user_ids": [stranger.id]},
                          headers=staff.headers)
    assert assert_error(r, 400, "VALIDATION_ERROR")["details"] == [
        {"field": "assignee_user_ids", "type": "not_member", "user_id": stranger.id}]
    assert (await OrgReferral.get(id=referral["id"])).status == "pending" and not await TaskClaim.exists(task_id=task["id"])
    r = await client.post(f"/api/v1/referrals/{referral['id']}/accept", json={"assignee_user_ids": [member.id]}, headers=staff.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert (await TaskClaim.get(task_id=task["id"])).volunteer_id is not None
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=member.headers)
    assert r.status_code == 200, r.text
    assert_error(await client.post(f"/api/v1/referrals/{referral['id']}/decline", json={"reason": "x"}, headers=staff.headers),
                 409, "REFERRAL_NOT_PENDING")


async def test_unqualified_organisations_are_refused(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    expired, _ = await qualified_org(client, admin, station, expires="2020-01-01T00:00:00+08:00")
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": expired.id}, headers=worker.headers)
    err = assert_error(r, 409, "ORGANIZATION_NOT_QUALIFIED")
    assert "qualifications:legal_capacity,staff,facilities,finance" in err["details"]["problems"]
    wrong_service, _ = await qualified_org(client, admin, station, services=("LINK_LEGAL",))
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": wrong_service.id}, headers=worker.headers)
    assert assert_error(r, 409, "ORGANIZATION_NOT_QUALIFIED")["details"]["problems"] == ["service"]
    assert (await Task.get(id=task["id"])).status == "open" and await OrgReferral.all().count() == 0


async def test_decline_returns_the_task_and_another_org_cannot_answer(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    _, other_staff = await qualified_org(client, admin, station)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)).json()
    anyone = {"assignee_user_ids": [worker.id]}
    assert_error(await client.post(f"/api/v1/referrals/{referral['id']}/accept", json=anyone, headers=other_staff.headers),
                 404, "NOT_FOUND")
    assert_error(await client.post(f"/api/v1/referrals/{referral['id']}/accept", json=anyone, headers=worker.headers),
                 403, "FORBIDDEN")
    r = await client.post(f"/api/v1/referrals/{referral['id']}/decline", json={"reason": "人手不足"}, headers=staff.headers)
    assert r.json()["status"] == "declined"
    assert (await Task.get(id=task["id"])).status == "open"


async def test_unanswered_referral_escalates_after_the_sla(client, api):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(60 * 24 * 5)),
                                                 scheduled_end=iso(soon(60 * 24 * 5 + 60)))
    org, _ = await qualified_org(client, admin, station)
    second, second_staff = await qualified_org(client, admin, station)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)).json()
    due = (await OrgReferral.get(id=referral["id"])).due_at
    assert due - api.app.ctx.clock() > timedelta(hours=api.settings.referral_sla_hours - 1)
    assert await referrals.escalate_overdue(now=due - timedelta(minutes=1)) == 0
    assert await referrals.escalate_overdue(now=due + timedelta(minutes=1)) == 1
    assert (await OrgReferral.get(id=referral["id"])).status == "escalated"
    assert (await Task.get(id=task["id"])).status == "open"
    # The station re-refers to another organisation.
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": second.id}, headers=worker.headers)
    assert r.status_code == 201
    assert [x["status"] for x in (await client.get("/api/v1/referrals", headers=worker.headers)).json()] == ["pending", "escalated"]


async def test_an_organisation_no_longer_qualified_cannot_accept(client):
    """机制二: a provider must hold its qualifications when it takes the service on, not only when
    it was referred; one whose documents lapsed (or whose station or service was withdrawn) while
    the referral waited is refused, and can still decline so the station gets the task back."""
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id},
                                  headers=worker.headers)).json()
    lapsed = [{"kind": k, "document": f"{k}.pdf", "expires_at": iso(soon(-60 * 24))} for k in referrals.QUALIFICATIONS]
    r = await client.patch(f"/api/v1/admin/organizations/{org.id}", json={"qualifications": lapsed}, headers=admin.headers)
    assert r.status_code == 200, r.text
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)
    r = await client.post(f"/api/v1/referrals/{referral['id']}/accept", json={"assignee_user_ids": [member.id]},
                          headers=staff.headers)
    assert_error(r, 409, "ORGANIZATION_NOT_QUALIFIED")
    assert (await OrgReferral.get(id=referral["id"])).status == "pending"
    assert (await Task.get(id=task["id"])).status == "referred"
    r = await client.post(f"/api/v1/referrals/{referral['id']}/decline", json={"reason": "资质到期"}, headers=staff.headers)
    assert r.status_code == 200 and (await Task.get(id=task["id"])).status == "open"


async def test_a_claim_that_wins_while_the_station_refers_keeps_the_task(client, api):
    """The station's request reads the task, a volunteer's claim on one of its two slots commits,
    then the referral is made: a task someone holds is not the station's to refer (it stays open
    for the second slot), so the referral is refused and the claim stands."""
    from tortoise.transactions import in_transaction

    from server.workflow.events import InvalidState

    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2)
    org, _ = await qualified_org(client, admin, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    read_by_the_station = await Task.get(id=task["id"])
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await Task.get(id=task["id"])).status == "open"

    try:
        async with in_transaction():
            await referrals.refer(task=read_by_the_station, organization_id=org.id, actor_id=worker.id,
                                  sla_hours=48, now=api.app.ctx.clock())
    except InvalidState:
        pass
    assert (await Task.get(id=task["id"])).status == "open"
    assert not await OrgReferral.exists(task_id=task["id"])
    assert (await TaskClaim.get(task_id=task["id"])).status == "claimed"


async def test_an_organisation_sees_what_it_is_asked_to_take_on(client):
    """Its staff cannot open the task (it is the station's), so the referral itself says what,
    when and where, at the community level a browsing volunteer sees: nothing more."""
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert_error(await client.get(f"/api/v1/tasks/{task['id']}", headers=staff.headers), 404, "NOT_FOUND")
    [listed] = (await client.get("/api/v1/referrals", headers=staff.headers)).json()
    stored = await Task.get(id=task["id"])
    assert listed["task"] == {
        "service_code": "CLEAN_HOME", "title": task["title"], "scheduled_start": task["scheduled_start"],
        "scheduled_end": task["scheduled_end"], "volunteers_needed": 1, "community": stored.community,
        "station_id": station.id}
    assert "3号楼" not in str(listed)


async def test_accepting_names_the_organisations_people_for_every_slot(client):
    """机制三: a referral the organisation accepts is the organisation's to serve. Accepted with
    nobody named, the task used to go back to the city's open pool, where any volunteer could take
    it while the organisation believed it was handling it. Now each slot is held by one of its own
    people from the moment it accepts; a list that is short, too long, repeats someone or names an
    outsider changes nothing."""
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2)
    org, staff = await qualified_org(client, admin, station)
    first, second, third = [(await make_volunteer(client, station, approved_by=worker))[0] for _ in range(3)]
    for member in (first, second, third):
        await grant(member, "org_staff", organization_id=org.id)
    pending, _ = await make_volunteer(client, station)  # applied, not approved
    await grant(pending, "org_staff", organization_id=org.id)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id},
                                  headers=worker.headers)).json()
    url = f"/api/v1/referrals/{referral['id']}/accept"
    assert_error(await client.post(url, json={}, headers=staff.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.post(url, json={"assignee_user_ids": []}, headers=staff.headers), 400, "VALIDATION_ERROR")
    refused = [
        ([first.id], {"field": "assignee_user_ids", "type": "wrong_count", "expected": 2, "given": 1}),
        ([first.id, second.id, third.id], {"field": "assignee_user_ids", "type": "wrong_count", "expected": 2, "given": 3}),
        ([first.id, first.id], {"field": "assignee_user_ids", "type": "duplicate"}),
        ([first.id, pending.id], {"field": "assignee_user_ids", "type": "not_volunteer", "user_id": pending.id}),
    ]
    for ids, detail in refused:
        r = await client.post(url, json={"assignee_user_ids": ids}, headers=staff.headers)
        assert assert_error(r, 400, "VALIDATION_ERROR")["details"] == [detail], ids
        assert (await OrgReferral.get(id=referral["id"])).status == "pending"
        assert (await Task.get(id=task["id"])).status == "referred" and not await TaskClaim.exists(task_id=task["id"])
    r = await client.post(url, json={"assignee_user_ids": [second.id, first.id]}, headers=staff.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    held = await Task.get(id=task["id"])
    assert held.status == "claimed" and held.claimed_count == 2
    from models import VolunteerProfile

    mine = {v.id for v in await VolunteerProfile.filter(user_id__in=[first.id, second.id])}
    assert {c.volunteer_id for c in await TaskClaim.filter(task_id=task["id"])} == mine
    # Not in anyone else's reach: a passer-by neither sees it open nor can claim it.
    passer_by, _ = await make_volunteer(client, station, approved_by=worker)
    assert task["id"] not in [t["id"] for t in (await client.get("/api/v1/tasks/open", headers=passer_by.headers)).json()["items"]]
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=passer_by.headers), 409, "TASK_ALREADY_CLAIMED")


async def test_the_station_and_the_organisation_hear_when_its_person_drops_out(client, api):
    """The slot an organisation's person held goes back to the open pool when they release it or
    miss the check-in. The station, which must now find someone, and the organisation, which
    answered for the visit, are told; a passer-by's own claim released later tells neither."""
    from models import Notification
    from server.ops import jobs

    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2)
    org, staff = await qualified_org(client, admin, station)
    first, second = [(await make_volunteer(client, station, approved_by=worker))[0] for _ in range(2)]
    for member in (first, second):
        await grant(member, "org_staff", organization_id=org.id)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id},
                                  headers=worker.headers)).json()
    r = await client.post(f"/api/v1/referrals/{referral['id']}/accept", json={"assignee_user_ids": [first.id, second.id]},
                          headers=staff.headers)
    assert r.status_code == 200, r.text

    async def told(event: str) -> list[Notification]:
        return await Notification.filter(event=event).order_by("id")

    r = await client.post(f"/api/v1/tasks/{task['id']}/release", headers=first.headers)
    assert r.status_code == 200, r.text
    station_told, org_told = await told("assignee_unserved"), await told("referral_unserved")
    assert [n.user_id for n in station_told] == [worker.id] and "承接机构指派的人员" in station_told[0].body
    # Its staff, the one who dropped out apart.
    assert sorted(n.user_id for n in org_told) == sorted([staff.id, second.id]) and task["title"] in org_told[0].body
    # The freed slot is the city's now: a passer-by claims it and lets it go again — theirs, not
    # the organisation's, so no one is told it dropped out.
    passer_by, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=passer_by.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/release", headers=passer_by.headers)).status_code == 200
    assert len(await told("assignee_unserved")) == 1 and len(await told("referral_unserved")) == len(org_told)
    # The other person of the organisation misses the check-in: the job releases them; told again.
    later = (await Task.get(id=task["id"])).scheduled_start + timedelta(minutes=api.settings.claim_grace_minutes + 1)
    assert await jobs.release_stale_claims(settings=api.settings, now=later) == 1
    assert len(await told("assignee_unserved")) == 2
    assert sorted(n.user_id for n in (await told("referral_unserved"))[2:]) == sorted([staff.id, first.id])
