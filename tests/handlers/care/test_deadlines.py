"""Deadlines that escalate, over HTTP with the clock moved: a need left unaccepted reminds the
station, then goes up to the district; so does a service record left unconfirmed; each step is a
timeline row and one notification, once even with two job processes; policies and qualifications
about to expire tell their owners once."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from models import DeadlineNotice, Notification, WorkflowEvent
from server.ops import jobs
from server.workflow import referrals
from tests.builders import (
    clock_moved, grant, iso, login, make_admin, make_need, make_open_task_and_volunteer, make_organization,
    make_resident, make_station, make_worker, serve_and_record, soon,
)

ROOT = Path(__file__).resolve().parents[3]
HOUR = 60


async def run_jobs(api, hours: float) -> dict:
    with clock_moved(hours * HOUR, api.app):
        return await jobs.run_all(settings=api.settings, now=api.app.ctx.clock())


async def timeline_reasons(client, session, need_id: int) -> list[str]:
    r = await client.get(f"/api/v1/needs/{need_id}/timeline", headers=session.headers)
    assert r.status_code == 200, r.text
    return [e.get("reason") or "" for e in r.json()["events"]]


async def test_a_need_left_unaccepted_reminds_the_station_then_goes_to_the_district(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    before = await Notification.filter(user_id=worker.id).count()

    assert (await run_jobs(api, 23))["deadline_notices"] == 0
    assert (await run_jobs(api, 25))["deadline_notices"] == 1
    told = await Notification.filter(user_id=worker.id, event="need_accept_overdue")
    assert len(told) == 1 and "超过1天" in told[0].body and "CLEAN" not in told[0].body
    assert await Notification.filter(user_id=worker.id).count() == before + 1
    assert not await Notification.filter(user_id=admin.id, event="need_accept_escalated").exists()
    assert (await run_jobs(api, 30))["deadline_notices"] == 0  # reminded once

    assert (await run_jobs(api, 49))["deadline_notices"] == 1
    assert await Notification.filter(user_id=admin.id, event="need_accept_escalated").count() == 1
    assert (await run_jobs(api, 60))["deadline_notices"] == 0
    reasons = await timeline_reasons(client, worker, need["id"])
    assert [r for r in reasons if r.startswith("督办")] == [
        "督办:需求等待受理已超过1天,已提醒驿站", "督办:需求等待受理已超过2天,已上报区县督办"]

    # The station and the administrators read the notices; another station's worker sees none.
    mine = (await client.get("/api/v1/deadlines", headers=worker.headers)).json()["items"]
    assert [(n["kind_label"], n["stage_label"]) for n in mine] == [("需求受理超时", "已上报区县"), ("需求受理超时", "已提醒")]
    other = await make_worker(client, await make_station())
    assert (await client.get("/api/v1/deadlines", headers=other.headers)).json()["items"] == []
    everything = (await client.get("/api/v1/deadlines?stage=escalate", headers=admin.headers)).json()["items"]
    assert [n["need_id"] for n in everything] == [need["id"]]
    assert (await client.get("/api/v1/deadlines", headers=resident.headers)).status_code == 403
    assert (await client.get("/api/v1/deadlines?stage=later", headers=admin.headers)).status_code == 400


async def test_an_urgent_need_is_chased_within_hours_and_an_accepted_one_not_at_all(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    urgent = await make_need(client, resident, urgency="urgent")
    calm = await make_need(client, (await make_resident(client, station))[0])
    assert (await client.post(f"/api/v1/needs/{calm['id']}/accept", headers=worker.headers)).status_code == 200
    assert (await run_jobs(api, 5))["deadline_notices"] == 1
    assert [n.need_id for n in await DeadlineNotice.all()] == [urgent["id"]]
    assert (await run_jobs(api, 13))["deadline_notices"] == 1  # escalated after 12 hours
    assert (await run_jobs(api, 100))["deadline_notices"] == 0  # the accepted need is never chased


async def test_a_record_left_unconfirmed_is_chased_and_a_confirmed_one_stops(api, client):
    station = await make_station()
    task, need, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    admin = await make_admin(client)
    await serve_and_record(client, task["id"], volunteer)
    done = await run_jobs(api, 50)
    # The need was accepted (make_task accepts it): only the record is late.
    assert done["deadline_notices"] == 1
    assert await Notification.filter(user_id=worker.id, event="record_confirm_overdue").count() == 1
    reasons = await timeline_reasons(client, worker, need["id"])
    assert "督办:服务记录等待确认已超过2天,已提醒驿站" in reasons
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    assert (await run_jobs(api, 100))["deadline_notices"] == 0
    assert not await Notification.filter(user_id=admin.id, event="record_confirm_escalated").exists()


def job_process_env(settings) -> dict[str, str]:
    """The environment under which a separate ``scripts/run_jobs`` process sees what the test app sees."""
    env = dict(os.environ)
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == "generated" or value is None:
            continue
        env["HAIBEI_" + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


async def test_two_job_processes_at_once_escalate_once(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    needs = [await make_need(client, resident, service_code=code) for code in ("CLEAN_HOME", "LIVING_MEAL")]
    at = (api.app.ctx.clock() + timedelta(hours=49)).isoformat()
    env = job_process_env(api.settings)

    def one() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "run_jobs"), "--once", "--at", at], env=env,
                              capture_output=True, text=True, timeout=120)

    runs = await asyncio.gather(asyncio.to_thread(one), asyncio.to_thread(one))
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    counts = [ast.literal_eval(run.stdout.strip().splitlines()[-1])["deadline_notices"] for run in runs]
    # Past both limits at once: escalated, without a reminder first; two needs, each once.
    assert sum(counts) == 2
    assert await DeadlineNotice.filter(stage="escalate").count() == 2
    assert await DeadlineNotice.filter(stage="remind").count() == 0
    assert await Notification.filter(user_id=admin.id, event="need_accept_escalated").count() == 2
    for need in needs:
        assert await WorkflowEvent.filter(need_id=need["id"], reason__startswith="督办").count() == 1
    assert not await Notification.filter(user_id=worker.id, event="need_accept_overdue").exists()


async def test_policies_and_qualifications_about_to_expire_tell_their_owners_once(api, client):
    admin = await make_admin(client)
    body = {"title": "高龄津贴", "issuer": "威海市民政局", "kind": "government_policy", "benefits": "每月补贴",
            "eligibility": {"all": [{"category": "特困"}]}, "valid_until": iso(soon(20 * 24 * 60))}
    assert (await client.post("/api/v1/admin/policies", json=body, headers=admin.headers)).status_code == 201
    far = {**body, "title": "长期政策", "valid_until": iso(soon(90 * 24 * 60))}
    assert (await client.post("/api/v1/admin/policies", json=far, headers=admin.headers)).status_code == 201
    org = await make_organization()
    quals = [{"kind": k, "document": f"{k}.pdf", "expires_at": iso(soon(10 * 24 * 60) if k == "staff" else soon(400 * 24 * 60))}
             for k in referrals.QUALIFICATIONS]
    r = await client.patch(f"/api/v1/admin/organizations/{org.id}", json={"qualifications": quals}, headers=admin.headers)
    assert r.status_code == 200, r.text
    staff = await grant(await login(client), "org_staff", organization_id=org.id)

    assert (await run_jobs(api, 1))["deadline_notices"] == 2
    policy_told = await Notification.filter(user_id=admin.id, event="policy_expiring")
    assert len(policy_told) == 1 and "高龄津贴" in policy_told[0].body
    told = await Notification.filter(user_id=staff.id, event="qualification_expiring")
    assert len(told) == 1 and "专业人员" in told[0].body and "staff" not in told[0].body
    assert await Notification.filter(user_id=admin.id, event="qualification_expiring").count() == 1
    assert (await run_jobs(api, 2))["deadline_notices"] == 0

    # Renewed, the document runs out again later: told again as that date nears.
    renewed = [{**q, "expires_at": iso(soon(40 * 24 * 60))} if q["kind"] == "staff" else q for q in quals]
    r = await client.patch(f"/api/v1/admin/organizations/{org.id}", json={"qualifications": renewed}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (await run_jobs(api, 3))["deadline_notices"] == 0
    assert (await run_jobs(api, 11 * 24))["deadline_notices"] == 1
    assert await Notification.filter(user_id=staff.id, event="qualification_expiring").count() == 2
