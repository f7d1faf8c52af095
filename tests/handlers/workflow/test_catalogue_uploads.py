"""Admin edits of the catalogue, photo uploads, and time zones at the API edge."""

import struct
import zlib
from datetime import datetime, timedelta, timezone

from models import Service, Task, Upload
from tests.builders import iso, login, make_admin, make_need, make_open_task, make_resident, make_station, make_task, make_worker, soon
from tests.handlers.test_platform import assert_error


def tiny_png() -> bytes:
    raw = b"\x00\xff"
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def test_admin_adds_edits_and_retires_a_service(client):
    admin = await make_admin(client)
    body = {"code": "LIVING_NIGHT_WATCH", "category_code": "LIVING", "name": "夜间看护", "default_minutes": 480,
            "points_per_hour": 8, "requires_skill": True, "checkin_policy": "plate"}
    r = await client.post("/api/v1/admin/services", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert_error(await client.post("/api/v1/admin/services", json=body, headers=admin.headers), 409, "SERVICE_CODE_TAKEN")
    r = await client.patch("/api/v1/admin/services/LIVING_NIGHT_WATCH", json={"points_per_hour": 9}, headers=admin.headers)
    assert r.json()["points_per_hour"] == 9 and r.json()["name"] == "夜间看护"

    station = await make_station()
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, service_code="LIVING_NIGHT_WATCH")
    r = await client.patch("/api/v1/admin/services/LIVING_NIGHT_WATCH", json={"status": "retired"}, headers=admin.headers)
    assert r.json()["status"] == "retired"
    listed = [s["code"] for s in (await client.get("/api/v1/catalog/services")).json()]
    assert "LIVING_NIGHT_WATCH" not in listed
    with_retired = [s["code"] for s in (await client.get("/api/v1/catalog/services", params={"include_retired": "true"})).json()]
    assert "LIVING_NIGHT_WATCH" in with_retired
    # Old records still read it; new needs cannot choose it.
    again = await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)
    assert again.json()["service_name"] == "夜间看护"
    other, _ = await make_resident(client, station)
    r = await client.post("/api/v1/needs", json={"service_code": "LIVING_NIGHT_WATCH", "description": "x"}, headers=other.headers)
    assert_error(r, 400, "UNKNOWN_SERVICE")


async def test_service_payloads_are_validated(client):
    admin = await make_admin(client)
    bad = [{"code": "lower", "category_code": "LIVING", "name": "x"},
           {"code": "OK_CODE", "category_code": "NOPE", "name": "x"},
           {"code": "OK_CODE", "category_code": "LIVING", "name": "x", "checkin_policy": "anything"}]
    for body in bad:
        r = await client.post("/api/v1/admin/services", json=body, headers=admin.headers)
        assert r.status_code == 400, r.text
    assert not await Service.exists(code="OK_CODE")
    resident = await login(client)
    assert_error(await client.post("/api/v1/admin/services", json={"code": "X_Y", "category_code": "LIVING", "name": "x"},
                                   headers=resident.headers), 403, "FORBIDDEN")
    # A code longer than any can be (schemathesis found it answered 500) names no service.
    assert_error(await client.patch("/api/v1/admin/services/" + "A" * 41, json={"points_per_hour": 9},
                                    headers=admin.headers), 404, "NOT_FOUND")


async def test_upload_accepts_images_only_and_records_photos(client, api):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    from tests.builders import make_volunteer

    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    png = tiny_png()
    r = await client.post("/api/v1/uploads", files={"file": ("a.png", png, "image/png")}, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["content_type"] == "image/png" and photo["size"] == len(png)
    stored = await Upload.get(id=photo["id"])
    assert await api.app.ctx.storage.get(stored.storage_key) == png
    # A text file dressed as an image is refused by its bytes.
    r = await client.post("/api/v1/uploads", files={"file": ("a.png", b"hello, not an image", "image/png")}, headers=volunteer.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    big = b"\xff\xd8\xff" + b"0" * (api.settings.upload_max_bytes + 1)
    r = await client.post("/api/v1/uploads", content=big, headers={**volunteer.headers, "content-type": "image/jpeg"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert await Upload.all().count() == 1

    home = {"lat": 37.512345, "lng": 122.121234}
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=home, headers=volunteer.headers)
    # Someone else's upload cannot be attached.
    other = await login(client)
    theirs = (await client.post("/api/v1/uploads", files={"file": ("b.png", png, "image/png")}, headers=other.headers)).json()
    r = await client.post(f"/api/v1/tasks/{task['id']}/record", json={"started_at": iso(soon(0)), "ended_at": iso(soon(3)),
                                                                      "summary": "ok", "photos": [theirs["id"]]}, headers=volunteer.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.post(f"/api/v1/tasks/{task['id']}/record", json={"started_at": iso(soon(0)), "ended_at": iso(soon(3)),
                                                                      "summary": "ok", "photos": [photo["id"]]}, headers=volunteer.headers)
    assert r.status_code == 200, r.text


async def test_the_station_sees_a_service_records_photos_and_nobody_else_does(client):
    from tests.builders import make_open_task_and_volunteer, make_volunteer, record_after

    station = await make_station()
    task, _, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    home = {"lat": 37.512345, "lng": 122.121234}
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=home, headers=volunteer.headers)
    png = tiny_png()
    photo = (await client.post("/api/v1/uploads", files={"file": ("a.png", png, "image/png")}, headers=volunteer.headers)).json()
    loose = (await client.post("/api/v1/uploads", files={"file": ("b.png", png, "image/png")}, headers=volunteer.headers)).json()
    # Before any record holds it, the station has no reason to see it.
    assert_error(await client.get(f"/api/v1/uploads/{photo['id']}", headers=worker.headers), 404, "NOT_FOUND")
    assert (await record_after(client, task["id"], volunteer, 10, photos=[photo["id"]])).status_code == 200

    for viewer in (volunteer, worker, await make_admin(client)):
        r = await client.get(f"/api/v1/uploads/{photo['id']}", headers=viewer.headers)
        assert r.status_code == 200 and r.content == png
        assert r.headers["content-type"] == "image/png" and "no-store" in r.headers["cache-control"]
    elsewhere = await make_worker(client, await make_station())
    stranger, _ = await make_volunteer(client, station, approved_by=worker)
    for viewer in (elsewhere, stranger):
        assert_error(await client.get(f"/api/v1/uploads/{photo['id']}", headers=viewer.headers), 404, "NOT_FOUND")
    assert_error(await client.get(f"/api/v1/uploads/{loose['id']}", headers=worker.headers), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/uploads/999999", headers=worker.headers), 404, "NOT_FOUND")


async def test_a_photo_stands_for_one_service_record_only(client):
    from tests.builders import make_open_task_and_volunteer, record_after

    station = await make_station()
    first, _, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    resident, _ = await make_resident(client, station)
    second = await make_task(client, worker, await make_need(client, resident))
    home = {"lat": 37.512345, "lng": 122.121234}

    async def serve(task):
        assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
        assert (await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=home,
                                  headers=volunteer.headers)).status_code == 200

    photo = (await client.post("/api/v1/uploads", files={"file": ("a.png", tiny_png(), "image/png")},
                               headers=volunteer.headers)).json()
    await serve(first)
    assert (await record_after(client, first["id"], volunteer, 30, photos=[photo["id"]])).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{first['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    await serve(second)
    r = await record_after(client, second["id"], volunteer, 30, photos=[photo["id"]])
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert err["details"] == [{"field": "photos", "type": "already_used", "ids": [photo["id"]]}]
    assert (await Task.get(id=second["id"])).status != "submitted"
    # Sent again on its own record (a retry, or after a rejection), it is still that record's.
    assert (await record_after(client, second["id"], volunteer, 10)).status_code == 200


async def test_times_with_any_offset_mean_the_same_instant(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    start_utc = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    beijing = timezone(timedelta(hours=8))
    task = await make_task(client, worker, need, scheduled_start=start_utc.astimezone(beijing).isoformat(),
                           scheduled_end=(start_utc + timedelta(hours=1)).astimezone(beijing).isoformat())
    assert datetime.fromisoformat(task["scheduled_start"]) == start_utc
    row = await Task.get(id=task["id"])
    assert row.scheduled_start == start_utc
    # Filtering by time compares instants too.
    r = await client.get("/api/v1/needs", params={"created_from": (datetime.now(beijing) - timedelta(minutes=5)).isoformat()},
                         headers=worker.headers)
    assert [n["id"] for n in r.json()["items"]] == [need["id"]]
    r = await client.get("/api/v1/needs", params={"created_from": (datetime.now(beijing) + timedelta(minutes=5)).isoformat()},
                         headers=worker.headers)
    assert r.json()["items"] == []
