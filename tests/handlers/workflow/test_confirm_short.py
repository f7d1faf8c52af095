"""A service shorter than its catalogue minimum (``min_minutes``) is confirmed only with a reason:
the worker sees the warning in the queue, a confirmation without a reason changes nothing, and one
with a reason is confirmed, credited by the usual rules and audited."""

from datetime import timedelta

from models import AuditLog, PointsEntry, Service, Task, TaskClaim, WorkflowEvent
from tests.builders import (
    iso, make_admin, make_open_task, make_open_task_and_volunteer, make_station, make_volunteer, record_after,
    serve_and_record, soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}  # where make_resident's household lives


async def queue(client, worker) -> dict[int, dict]:
    """The worker's records awaiting confirmation, by task id."""
    r = await client.get("/api/v1/tasks/station", params={"status": "submitted"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    return {t["id"]: t for t in r.json()["items"]}


async def test_a_17_second_record_needs_a_reason_and_nothing_changes_without_one(client):
    station = await make_station()
    task, need, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    started = soon(0)
    r = await client.post(f"/api/v1/tasks/{task['id']}/record", headers=volunteer.headers, json={
        "started_at": iso(started), "ended_at": iso(started + timedelta(seconds=17)), "summary": "已上门"})
    assert r.status_code == 200, r.text
    claim_id = r.json()["my_claim"]["id"]

    # The worker sees the warning before confirming: the minimum of 居室保洁, and which record is short.
    shown = (await queue(client, worker))[task["id"]]
    assert (shown["min_minutes"], shown["short_service"]) == (30, True)
    assert [(c["id"], c["recorded_minutes"], c["short_service"]) for c in shown["claims"]] == [(claim_id, 0, True)]

    for body in ({}, {"reason": "   "}, {"minutes": None, "reason": None}):
        r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json=body, headers=worker.headers)
        error = assert_error(r, 422, "SHORT_SERVICE_REASON_REQUIRED")
        assert error["message"] == "服务时长低于该服务最低时长(30分钟),请填写确认理由"
        assert error["details"] == {"min_minutes": 30, "claims": [
            {"claim_id": claim_id, "recorded_minutes": 0, "verified_minutes": 0}]}
    # Nothing changed: not confirmed, no points, no audit row, nothing on the timeline.
    assert (await Task.get(id=task["id"])).status == "submitted"
    claim = await TaskClaim.get(id=claim_id)
    assert (claim.status, claim.verified_minutes, claim.confirmed_by) == ("submitted", None, None)
    assert not await PointsEntry.filter(ref_type="claim", ref_id=claim_id).exists()
    assert (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["earned"] == 0
    assert not await AuditLog.filter(action="claim.confirm_short").exists()
    assert not await WorkflowEvent.filter(claim_id=claim_id, to_status="confirmed").exists()

    # With a reason it is confirmed, and the reason is kept: on the timeline and in the audit trail.
    reason = "老人临时就医,仅完成简单整理,已电话核实"
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"reason": f"  {reason} "},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["claims"][0]["verified_minutes"] == 0
    # The award follows the earning rules (docs/points.md), on the verified minutes: 0 minutes is
    # below min_per_service (5), and a first service adds 20. The worker saw the warning and said why.
    entries = await PointsEntry.filter(ref_type="claim", ref_id=claim_id)
    assert [(e.kind, e.amount, e.minutes) for e in entries] == [("service_award", 25, 0)]
    audited = await AuditLog.filter(action="claim.confirm_short", subject_type="claim", subject_id=claim_id)
    assert [(a.actor_id, a.detail) for a in audited] == [(worker.id, {
        "task_id": task["id"], "service_code": "CLEAN_HOME", "reason": reason, "recorded_minutes": 0,
        "verified_minutes": 0, "min_minutes": 30})]
    timeline = (await client.get(f"/api/v1/needs/{need['id']}/timeline", headers=worker.headers)).json()["events"]
    assert [e["reason"] for e in timeline if e["subject"] == "claim" and e["to"] == "confirmed"] == [reason]
    # Confirmed, the record still shows it was short; the queue no longer holds it.
    shown = (await client.get(f"/api/v1/tasks/{task['id']}", headers=worker.headers)).json()
    assert shown["claims"][0]["short_service"] is True and shown["short_service"] is False
    assert task["id"] not in await queue(client, worker)


async def test_a_record_at_or_above_the_minimum_needs_no_reason(client):
    station = await make_station()
    task, need, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer, minutes=30)  # 居室保洁's minimum, exactly
    shown = (await queue(client, worker))[task["id"]]
    assert shown["short_service"] is False
    assert [(c["recorded_minutes"], c["short_service"]) for c in shown["claims"]] == [(30, False)]
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    assert r.json()["claims"][0]["verified_minutes"] == 30
    assert not await AuditLog.filter(action="claim.confirm_short").exists()
    timeline = (await client.get(f"/api/v1/needs/{need['id']}/timeline", headers=worker.headers)).json()["events"]
    assert [e["reason"] for e in timeline if e["subject"] == "claim" and e["to"] == "confirmed"] == [None]


async def test_minutes_the_worker_verifies_below_the_minimum_need_a_reason_too(client):
    station = await make_station()
    task, _, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer, minutes=40)
    assert (await queue(client, worker))[task["id"]]["short_service"] is False
    error = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"minutes": 20},
                                           headers=worker.headers), 422, "SHORT_SERVICE_REASON_REQUIRED")
    [claim] = error["details"]["claims"]
    assert (claim["recorded_minutes"], claim["verified_minutes"]) == (40, 20)
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"minutes": 20, "reason": "中途离开20分钟"},
                          headers=worker.headers)
    assert r.status_code == 200 and r.json()["claims"][0]["verified_minutes"] == 20, r.text


async def test_only_the_short_claims_of_a_task_are_named_and_audited(client):
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station, volunteers_needed=2)
    first, _ = await make_volunteer(client, station, approved_by=worker)
    second, _ = await make_volunteer(client, station, approved_by=worker)
    for volunteer in (first, second):
        assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    for volunteer in (first, second):
        r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
        assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], first, 45)).status_code == 200
    assert (await record_after(client, task["id"], second, 12)).status_code == 200
    short_claim = await TaskClaim.get(task_id=task["id"], volunteer__user_id=second.id)

    shown = (await queue(client, worker))[task["id"]]
    assert shown["short_service"] is True
    assert sorted((c["recorded_minutes"], c["short_service"]) for c in shown["claims"]) == [(12, True), (45, False)]
    error = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers),
                         422, "SHORT_SERVICE_REASON_REQUIRED")
    assert error["details"]["claims"] == [{"claim_id": short_claim.id, "recorded_minutes": 12, "verified_minutes": 12}]
    assert await TaskClaim.filter(task_id=task["id"], status="submitted").count() == 2

    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"reason": "第二位志愿者协助搬运后先行离开"},
                          headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    audited = await AuditLog.filter(action="claim.confirm_short").values_list("subject_id", flat=True)
    assert audited == [short_claim.id]


async def test_a_short_record_is_left_out_of_a_bulk_confirmation(client):
    station = await make_station()
    short, _, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, short["id"], volunteer, minutes=10)
    full, _, _, _, other = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, full["id"], other, minutes=60)
    r = await client.post("/api/v1/tasks/confirm", json={"ids": [short["id"], full["id"]]}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert [(x["id"], x["ok"], x.get("error", {}).get("code")) for x in r.json()["results"]] == [
        (short["id"], False, "SHORT_SERVICE_REASON_REQUIRED"), (full["id"], True, None)]
    assert (await Task.get(id=short["id"])).status == "submitted"
    # One reason is not typed for a hundred records: the short one is confirmed on its own.
    assert_error(await client.post("/api/v1/tasks/confirm", json={"ids": [short["id"]], "reason": "批量"},
                                   headers=worker.headers), 400, "VALIDATION_ERROR")
    r = await client.post(f"/api/v1/tasks/{short['id']}/confirm", json={"reason": "提前完成"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text


async def test_administrators_set_a_services_minimum_within_its_default_duration(client):
    admin = await make_admin(client)
    service = (await client.get("/api/v1/catalog/services")).json()
    assert {s["code"]: s["min_minutes"] for s in service}["CLEAN_BATH"] == 30
    for bad in ({"min_minutes": -1}, {"min_minutes": 24 * 60 + 1}, {"min_minutes": 121}, {"default_minutes": 20}):
        error = assert_error(await client.patch("/api/v1/admin/services/CLEAN_HOME", json=bad, headers=admin.headers),
                             400, "VALIDATION_ERROR")
        assert "min_minutes" in str(error["details"]), bad
    assert (await Service.get(code="CLEAN_HOME")).min_minutes == 30
    r = await client.patch("/api/v1/admin/services/CLEAN_HOME", json={"min_minutes": 45}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["min_minutes"] == 45, r.text
    # A new service without a minimum gets 15, or its whole default duration if that is shorter.
    base = {"category_code": "LIVING", "name": "测试服务"}
    r = await client.post("/api/v1/admin/services", json={**base, "code": "LIVING_T1", "default_minutes": 60},
                          headers=admin.headers)
    assert r.status_code == 201 and r.json()["min_minutes"] == 15, r.text
    r = await client.post("/api/v1/admin/services", json={**base, "code": "LIVING_T2", "default_minutes": 10},
                          headers=admin.headers)
    assert r.status_code == 201 and r.json()["min_minutes"] == 10, r.text
    assert_error(await client.post("/api/v1/admin/services", json={**base, "code": "LIVING_T3", "default_minutes": 10,
                                                                   "min_minutes": 11}, headers=admin.headers),
                 400, "VALIDATION_ERROR")

    # The new minimum applies at once: 40 minutes of 居室保洁 is now short.
    station = await make_station()
    task, _, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer, minutes=40)
    assert (await queue(client, worker))[task["id"]]["min_minutes"] == 45
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers),
                 422, "SHORT_SERVICE_REASON_REQUIRED")
    # And 0 means no minimum.
    r = await client.patch("/api/v1/admin/services/CLEAN_HOME", json={"min_minutes": 0}, headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
