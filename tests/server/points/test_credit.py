"""The 海贝分 credit export: exact at each threshold, idempotent across runs (API and script), of
volunteers who consented (the handoff itself: tests/handlers/points/test_credit_handoff.py)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tortoise.transactions import in_transaction

from models import CreditIncrement, PointsAccount
from server.points import credit, ledger
from tests.builders import make_admin, make_station, make_volunteer, make_worker

ROOT = Path(__file__).resolve().parents[3]


async def consent(client, session) -> None:
    """The volunteer agrees to the link to 信用威海, to the text in force."""
    version = (await client.get("/api/v1/me/credit-consent", headers=session.headers)).json()["version"]
    r = await client.post("/api/v1/me/credit-consent", json={"version": version}, headers=session.headers)
    assert r.status_code == 200 and r.json()["state"] == "consented", r.text


async def add_minutes(api, user_id: int, minutes: int) -> None:
    async with in_transaction():
        account = await ledger.lock(user_id=user_id)
        await ledger.post(account=account, amount=1, kind="service_award", key=f"t:{user_id}:{minutes}:{account.verified_minutes}",
                          now=api.app.ctx.clock(), minutes=minutes)


async def test_thresholds_are_exact_and_exported_once(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    v, profile = await make_volunteer(client, station, approved_by=worker, id_number="11010519491231002X")
    await consent(client, v)
    await add_minutes(api, v.id, 10 * 60 - 1)  # 9 h 59 min: not yet
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 200 and r.json()["count"] == 0
    await add_minutes(api, v.id, 1)  # exactly 10 h
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 201
    batch = r.json()
    assert [(i["threshold_hours"], i["increment"]) for i in batch["increments"]] == [(10, 2)]
    inc = batch["increments"][0]
    assert inc["hours"] == 10.0 and inc["id_number_masked"] == "1101**********002X" and len(inc["id_number_index"]) == 64
    assert "11010519491231002X" not in r.text
    # Again: nothing twice.
    assert (await client.post("/api/v1/admin/credit-exports", headers=admin.headers)).json()["count"] == 0
    # Jumping from 10 h to 55 h crosses 20 h and 50 h at once: two increments, next batch number.
    await add_minutes(api, v.id, 45 * 60)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.json()["batch_id"] == batch["batch_id"] + 1
    assert [(i["threshold_hours"], i["increment"]) for i in r.json()["increments"]] == [(20, 5), (50, 10)]
    csv_text = (await client.get(f"/api/v1/admin/credit-exports/{batch['batch_id']}", params={"format": "csv"},
                                 headers=admin.headers)).text
    assert csv_text.splitlines()[0].startswith("batch_id,volunteer_id") and ",10,2," in csv_text.splitlines()[1]
    assert await CreditIncrement.filter(user_id=v.id).count() == 3


def test_due_thresholds_table():
    assert credit.due_thresholds(minutes=599, exported=set()) == []
    assert [t["hours"] for t in credit.due_thresholds(minutes=300 * 60, exported={10, 20})] == [50, 80, 100, 150, 200, 250, 300]
    assert sum(t["increment"] for t in credit.due_thresholds(minutes=10**6, exported=set())) == 197


async def test_export_script_is_idempotent(api, client, tmp_path):
    station = await make_station()
    worker = await make_worker(client, station)
    v, _ = await make_volunteer(client, station, approved_by=worker, id_number="11010519491231002X")
    await consent(client, v)
    await add_minutes(api, v.id, 25 * 60)
    env = {**os.environ, "HAIBEI_DB_URL": api.settings.db_url}
    cmd = [sys.executable, str(ROOT / "scripts" / "export_credit"), "--out", str(tmp_path)]
    first = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].endswith(".csv")
    data = json.loads(next(tmp_path.glob("*.json")).read_text(encoding="utf-8"))
    assert [(d["threshold_hours"], d["increment"]) for d in data] == [(10, 2), (20, 5)]
    second = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60)
    assert "nothing new" in second.stdout and len(list(tmp_path.iterdir())) == 2
    assert (await PointsAccount.get(user_id=v.id)).verified_minutes == 25 * 60


async def test_no_id_number_or_closed_profile_keeps_thresholds_due(api, client):
    from tests.builders import random_id_number, volunteer_payload

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    later, _ = await make_volunteer(client, station, approved_by=worker, name="钱志愿")  # no ID number yet
    leaving, _ = await make_volunteer(client, station, approved_by=worker, id_number=random_id_number())
    for v in (later, leaving):
        await consent(client, v)
        await add_minutes(api, v.id, 10 * 60)
    r = await client.delete("/api/v1/me", headers=leaving.headers)
    assert r.status_code == 200, r.text
    # Neither can be credited by 信用威海: nothing to export, nothing used up.
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 200 and r.json()["count"] == 0, r.text
    assert await CreditIncrement.all().count() == 0
    # Once the ID number is given, the 10 h reached earlier are exported, with it.
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, name="钱志愿", id_number="11010519491231002X"),
                         headers=later.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 201, r.text
    [inc] = r.json()["increments"]
    assert (inc["user_id"], inc["threshold_hours"], inc["id_number_masked"]) == (later.id, 10, "1101**********002X")
    assert inc["id_number_index"]


async def test_a_reversed_service_is_no_evidence(api, client):
    from models import PointsEntry, TaskClaim
    from tests.builders import make_need, make_resident
    from tests.handlers.care.test_stats import deliver

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    v, _ = await make_volunteer(client, station, approved_by=worker, id_number="11010519491231002X")
    await consent(client, v)
    resident, _ = await make_resident(client, station)
    await deliver(client, worker, v, await make_need(client, resident), 30)
    await deliver(client, worker, v, await make_need(client, resident, service_code="LIVING_MEAL"), 40)
    reversed_award = await PointsEntry.get(kind="service_award", minutes=30)
    r = await client.post("/api/v1/points/reversals", json={"entry_id": reversed_award.id, "reason": "服务未实际完成"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text
    await add_minutes(api, v.id, 10 * 60)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 201, r.text
    kept = await TaskClaim.get(id=(await PointsEntry.get(kind="service_award", minutes=40)).ref_id)
    assert [i["evidence_task_ids"] for i in r.json()["increments"]] == [[kept.task_id]]


async def test_without_consent_in_force_thresholds_stay_due(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    v, _ = await make_volunteer(client, station, approved_by=worker, id_number="11010519491231002X")
    await add_minutes(api, v.id, 10 * 60)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 200 and r.json()["count"] == 0, r.text  # never consented
    await consent(client, v)
    assert (await client.delete("/api/v1/me/credit-consent", headers=v.headers)).json()["state"] == "withdrawn"
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 200 and r.json()["count"] == 0, r.text  # withdrawn
    await consent(client, v)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 201 and [i["threshold_hours"] for i in r.json()["increments"]] == [10], r.text
