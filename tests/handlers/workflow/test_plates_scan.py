"""A household's QR plate, from the printer to the check-in: the station downloads the plate, a
scanner reads it, and the volunteer checks in with exactly what was read (助浴 takes nothing but
the plate, ``checkin_policy: plate`` in config/service_catalogue.json)."""

from models import TaskClaim
from tests.builders import make_need, make_resident, make_station, make_task, make_volunteer, make_worker
from tests.handlers.test_platform import assert_error
from tests.wechat.test_standin import scan_png

HOME = {"lat": 37.512345, "lng": 122.121234}  # resident_payload's household position


async def test_a_scanned_plate_checks_the_volunteer_in_and_another_households_plate_does_not(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station)
    _, neighbour = await make_resident(client, station, address="鲸园街道新威社区3号楼2单元502室")
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, skills=["CLEAN_BATH"])
    need = await make_need(client, resident, service_code="CLEAN_BATH", description="行动不便,需要助浴")
    task = await make_task(client, worker, need, title="助浴")
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text

    # The station prints both plates; what a phone's scanner reads off each is all the volunteer has.
    scanned = {}
    for profile in (household, neighbour):
        r = await client.get(f"/api/v1/residents/{profile['id']}/qr-plate", headers=worker.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        [scanned[profile["id"]]] = scan_png(r.content)
    mine, theirs = scanned[household["id"]], scanned[neighbour["id"]]
    assert mine != theirs

    check_in = f"/api/v1/tasks/{task['id']}/check-in"
    # Being at the door is not enough for 助浴: only the plate proves the volunteer went in.
    err = assert_error(await client.post(check_in, json=HOME, headers=volunteer.headers), 422, "CHECKIN_EVIDENCE")
    assert err["details"]["policy"] == "plate" and err["details"]["missing"] == ["plate"]
    # The plate next door is a genuine plate, of the wrong household.
    err = assert_error(await client.post(check_in, json={"scene": theirs, **HOME}, headers=volunteer.headers),
                       422, "CHECKIN_EVIDENCE")
    assert err["details"]["missing"] == ["plate"] and err["details"]["evidence"]["plate"] is False
    assert (await TaskClaim.get(task_id=task["id"])).status == "claimed"

    r = await client.post(check_in, json={"scene": mine}, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "checked_in" and r.json()["my_claim"]["status"] == "checked_in"
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.checkin_evidence["plate"] is True and claim.checkin_evidence["policy"] == "plate"
