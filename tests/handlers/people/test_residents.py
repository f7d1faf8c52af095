"""Household profiles: validation, encryption at rest, masking, audited unmasked reads, duplicates."""

from tortoise import connections

from models import AuditLog, ResidentProfile
from server.pii import make_valid_id_number
from tests.builders import login, make_resident, make_station, make_worker, random_id_number, resident_payload
from tests.handlers.test_platform import assert_error


async def test_resident_profile_is_masked_in_responses(client):
    station = await make_station()
    payload = resident_payload(station, name="王秀英", phone="13912345678",
                               id_number=make_valid_id_number(region="370602", birth="19450302", seq="123"))
    s = await login(client)
    r = await client.put("/api/v1/me/resident", json=payload, headers=s.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["masked"] is True
    assert out["name"] == "王**"
    assert out["id_number"] == "3706**********" + payload["id_number"][-4:]
    assert out["phone"] == "139****5678"
    assert out["address"] == "鲸园街道新威社区****"
    assert (out["lat"], out["lng"]) == (37.51, 122.12)
    assert out["health_notes"] is None and out["has_health_notes"] is True
    # The household's own categories are its declaration until the station checks them.
    assert out["categories"] == [] and out["declared_categories"] == ["特困", "独居"]
    assert out["gender"] == "male" and out["age"] >= 80  # 17th digit 3 is odd
    for secret in (payload["id_number"], payload["phone"], payload["address"], "高血压", "122.121234"):
        assert secret not in r.text
    me = await client.get("/api/v1/me", headers=s.headers)
    assert me.json()["resident"]["id"] == out["id"]
    assert payload["id_number"] not in me.text and payload["phone"] not in me.text


async def test_personal_data_is_encrypted_in_the_database(client):
    station = await make_station()
    payload = resident_payload(station)
    _, out = await make_resident(client, station, **{k: payload[k] for k in ("id_number", "phone", "address")})
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT id_number_enc, id_number_index, phone_enc, address_enc, location_enc, health_notes_enc "
        "FROM resident_profiles WHERE id = %s" if conn.capabilities.dialect == "mysql" else
        "SELECT id_number_enc, id_number_index, phone_enc, address_enc, location_enc, health_notes_enc "
        "FROM resident_profiles WHERE id = ?",
        [out["id"]],
    )
    raw = rows[0]
    for column, plain in (("id_number_enc", payload["id_number"]), ("phone_enc", payload["phone"]),
                          ("address_enc", payload["address"]), ("health_notes_enc", "高血压")):
        assert raw[column].startswith("v1."), column
        assert plain not in raw[column], column
    assert "37.51" not in raw["location_enc"]
    assert len(raw["id_number_index"]) == 64 and payload["id_number"] not in raw["id_number_index"]


async def test_unmasked_read_by_the_person_is_full_and_audited(client):
    station = await make_station()
    payload = resident_payload(station)
    s = await login(client)
    rid = (await client.put("/api/v1/me/resident", json=payload, headers=s.headers)).json()["id"]
    r = await client.get(f"/api/v1/residents/{rid}/unmasked", headers=s.headers)
    assert r.status_code == 200, r.text
    full = r.json()
    assert full["masked"] is False
    assert full["id_number"] == payload["id_number"] and full["phone"] == payload["phone"]
    assert full["address"] == payload["address"] and full["health_notes"] == payload["health_notes"]
    assert (full["lat"], full["lng"]) == (payload["lat"], payload["lng"])
    assert r.headers["cache-control"] == "no-store"
    rows = await AuditLog.filter(action="resident.read_unmasked", subject_id=rid)
    assert len(rows) == 1
    assert rows[0].actor_id == s.id
    assert rows[0].request_id == r.headers["x-request-id"]
    assert {"id_number", "phone", "address", "health_notes"} <= set(rows[0].fields_read)
    await client.get(f"/api/v1/residents/{rid}/unmasked", headers=s.headers)
    assert await AuditLog.filter(action="resident.read_unmasked", subject_id=rid).count() == 2


async def test_worker_of_the_station_reads_unmasked_and_is_audited(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, out = await make_resident(client, station)
    r = await client.get(f"/api/v1/residents/{out['id']}/unmasked", headers=worker.headers)
    assert r.status_code == 200
    row = await AuditLog.get(action="resident.read_unmasked", subject_id=out["id"])
    assert row.actor_id == worker.id


async def test_worker_of_another_station_gets_404_and_no_audit(client):
    a, b = await make_station(), await make_station()
    worker_b = await make_worker(client, b)
    _, resident_a = await make_resident(client, a)
    for path in (f"/api/v1/residents/{resident_a['id']}", f"/api/v1/residents/{resident_a['id']}/unmasked"):
        assert_error(await client.get(path, headers=worker_b.headers), 404, "NOT_FOUND")
    r = await client.put(f"/api/v1/residents/{resident_a['id']}", json=resident_payload(b), headers=worker_b.headers)
    assert_error(r, 404, "NOT_FOUND")
    assert await AuditLog.filter(action="resident.read_unmasked").count() == 0


async def test_another_resident_gets_404(client):
    station = await make_station()
    _, mine = await make_resident(client, station)
    other, _ = await make_resident(client, station)
    assert_error(await client.get(f"/api/v1/residents/{mine['id']}", headers=other.headers), 404, "NOT_FOUND")


async def test_a_worker_registering_a_held_id_number_is_told_the_station(client):
    a, b = await make_station(), await make_station()
    id_number = random_id_number()
    await make_resident(client, a, id_number=id_number)
    # Lower-case x normalises to the same number, so it is caught too; a worker is told the
    # station, to coordinate.
    worker = await make_worker(client, b)
    r = await client.post("/api/v1/residents", json=resident_payload(b, id_number=id_number.lower()), headers=worker.headers)
    assert assert_error(r, 409, "DUPLICATE_HOUSEHOLD")["details"] == {"station_id": a.id}
    assert await ResidentProfile.all().count() == 1


async def test_a_birth_date_before_1900_is_refused_as_an_id_numbers_would_be(client):
    station = await make_station()
    s = await login(client)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station, id_number=None, birth_date="0001-01-01"),
                         headers=s.headers)
    assert assert_error(r, 400, "VALIDATION_ERROR")["details"] == [{"field": "birth_date", "type": "too_early"}]
    assert not await ResidentProfile.exists(user_id=s.id)


async def test_worker_registers_a_household_on_behalf(client):
    station = await make_station()
    worker = await make_worker(client, station)
    payload = resident_payload(station, phone=None)
    r = await client.post("/api/v1/residents", json=payload, headers=worker.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["entered_on_behalf"] is True and out["has_account"] is False
    row = await ResidentProfile.get(id=out["id"])
    assert row.entered_by == worker.id and row.user_id is None
    # The worker edits it later (e.g. after a home visit).
    payload["categories"] = ["低保", "失能"]
    r = await client.put(f"/api/v1/residents/{out['id']}", json=payload, headers=worker.headers)
    assert r.status_code == 200 and r.json()["categories"] == ["低保", "失能"]
    listed = await client.get("/api/v1/residents", params={"category": "失能"}, headers=worker.headers)
    assert [x["id"] for x in listed.json()["items"]] == [out["id"]]
    assert listed.json()["total"] == 1
    await make_resident(client, station, name="李建国")
    by_name = await client.get("/api/v1/residents", params={"name": "李"}, headers=worker.headers)
    assert [x["name"] for x in by_name.json()["items"]] == ["李**"]
    page = await client.get("/api/v1/residents", params={"limit": 1, "offset": 1}, headers=worker.headers)
    assert page.json()["total"] == 2 and len(page.json()["items"]) == 1
    assert_error(await client.get("/api/v1/residents", params={"limit": 1000}, headers=worker.headers), 400, "VALIDATION_ERROR")


async def test_worker_cannot_register_for_another_station(client):
    a, b = await make_station(), await make_station()
    worker = await make_worker(client, a)
    r = await client.post("/api/v1/residents", json=resident_payload(b), headers=worker.headers)
    assert_error(r, 403, "OTHER_STATION")
    assert await ResidentProfile.all().count() == 0


async def test_residents_cannot_register_others(client):
    station = await make_station()
    s = await login(client)
    assert_error(await client.post("/api/v1/residents", json=resident_payload(station), headers=s.headers), 403, "FORBIDDEN")


async def test_minor_under_14_needs_guardian_and_consent(client):
    station = await make_station()
    child_id = make_valid_id_number(region="371002", birth="20180405", seq="222")
    s = await login(client)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station, id_number=child_id), headers=s.headers)
    err = assert_error(r, 400, "GUARDIAN_CONSENT_REQUIRED")
    assert {d["field"] for d in err["details"]} == {"guardian_name", "guardian_phone", "guardian_relation", "guardian_consent"}
    assert await ResidentProfile.all().count() == 0
    r = await client.put("/api/v1/me/resident", json=resident_payload(
        station, id_number=child_id, guardian_name="刘建华", guardian_phone="13800003001", guardian_relation="祖父",
        guardian_consent=True), headers=s.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["guardian_consent_at"] and out["guardian_name"] == "刘**" and out["guardian_phone"] == "138****3001"
    row = await ResidentProfile.get(id=out["id"])
    assert row.guardian_consent_recorded_by == s.id


async def test_a_guardians_consent_is_dated_by_the_apis_clock(client, api):
    """When the consent was taken is part of the record (who, when): it is the API's time
    (server/clock.py), the one every other record of the household is dated by."""
    from datetime import timedelta

    from tests.builders import clock_moved

    station = await make_station()
    child_id = make_valid_id_number(region="371002", birth="20180405", seq="223")
    s = await login(client)
    with clock_moved(60 * 24 * 2, api.app):
        moved = api.app.ctx.clock()
        r = await client.put("/api/v1/me/resident", json=resident_payload(
            station, id_number=child_id, guardian_name="刘建华", guardian_phone="13800003001", guardian_relation="祖父",
            guardian_consent=True), headers=s.headers)
        assert r.status_code == 200, r.text
    row = await ResidentProfile.get(id=r.json()["id"])
    assert abs(row.guardian_consent_at - moved) < timedelta(minutes=1), (row.guardian_consent_at, moved)


async def test_invalid_id_number_phone_and_category_are_rejected_per_field(client):
    station = await make_station()
    s = await login(client)
    good = random_id_number()
    bad_check = good[:-1] + ("1" if good[-1] != "1" else "2")
    r = await client.put("/api/v1/me/resident", json=resident_payload(
        station, id_number=bad_check, phone="1234", categories=["富豪"]), headers=s.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in err["details"]} == {"id_number", "phone", "categories"}
    assert await ResidentProfile.all().count() == 0


async def test_overlong_strings_and_unknown_fields_are_refused(client):
    station = await make_station()
    s = await login(client)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station, name="张" * 41), headers=s.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    for field, value in (("status", "closed"), ("user_id", 1), ("entered_by", 3), ("roles", ["worker"])):
        r = await client.put("/api/v1/me/resident", json={**resident_payload(station), field: value}, headers=s.headers)
        err = assert_error(r, 400, "VALIDATION_ERROR")
        assert err["details"][0]["field"] == field
    assert await ResidentProfile.all().count() == 0


async def test_unknown_station_is_refused(client):
    station = await make_station()
    s = await login(client)
    payload = resident_payload(station, station_id=station.id + 999)
    assert_error(await client.put("/api/v1/me/resident", json=payload, headers=s.headers), 400, "VALIDATION_ERROR")


async def test_updating_own_profile_keeps_one_row(client):
    station = await make_station()
    s, first = await make_resident(client, station)
    payload = resident_payload(station, name="王秀兰")
    r = await client.put("/api/v1/me/resident", json=payload, headers=s.headers)
    assert r.status_code == 200 and r.json()["id"] == first["id"]
    assert await ResidentProfile.filter(user_id=s.id).count() == 1


async def test_a_household_with_a_need_under_way_cannot_move_itself_to_another_station(client):
    # A need stays with the station that took it on; a household that moved itself away meanwhile
    # vanished from that station (404 on its profile, phone and QR plate) in mid-service, and
    # workers may not move households either: the hand-over is for both stations to see.
    from tests.builders import make_need

    a, b = await make_station(), await make_station()
    worker = await make_worker(client, a)
    s, home = await make_resident(client, a)
    need = await make_need(client, s)
    assert (await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)).status_code == 200
    r = await client.put("/api/v1/me/resident", json=resident_payload(b), headers=s.headers)
    err = assert_error(r, 409, "HOUSEHOLD_IN_SERVICE")
    assert err["details"] == {"need_ids": [need["id"]]}
    assert (await ResidentProfile.get(id=home["id"])).station_id == a.id
    assert (await client.get(f"/api/v1/residents/{home['id']}", headers=worker.headers)).status_code == 200
    # Editing anything else is fine; once nothing is under way the household may move.
    assert (await client.put("/api/v1/me/resident", json=resident_payload(a, name="王秀兰"), headers=s.headers)).status_code == 200
    assert (await client.post(f"/api/v1/needs/{need['id']}/cancel", json={}, headers=s.headers)).status_code == 200
    r = await client.put("/api/v1/me/resident", json=resident_payload(b), headers=s.headers)
    assert r.status_code == 200 and r.json()["station_id"] == b.id


async def test_a_worker_retrying_a_registration_gets_one_household_not_two(client):
    """A worker in a village with one bar of signal taps 'save' again, or the phone resends: a
    household without an ID number has nothing else to tell the second copy by. With the same
    Idempotency-Key the retry gets the first answer; sent at the same moment too."""
    import asyncio

    from models import ResidentProfile

    station = await make_station()
    worker = await make_worker(client, station)
    payload = {"name": "孙大爷", "station_id": station.id, "categories": ["独居"], "address": "某村1号"}
    headers = {**worker.headers, "Idempotency-Key": "reg-sun-0001"}
    first, again = await asyncio.gather(*(client.post("/api/v1/residents", json=payload, headers=headers) for _ in range(2)))
    assert {first.status_code, again.status_code} == {201}
    assert first.json()["id"] == again.json()["id"]
    third = await client.post("/api/v1/residents", json=payload, headers=headers)
    assert third.json() == first.json() and third.headers.get("idempotent-replayed") == "true"
    assert await ResidentProfile.filter(name="孙大爷").count() == 1
    # The same key for another household is a mistake, said as such; a new key, a new household.
    assert_error(await client.post("/api/v1/residents", json={**payload, "name": "李奶奶"}, headers=headers),
                 422, "IDEMPOTENCY_KEY_REUSED")
    r = await client.post("/api/v1/residents", json=payload, headers={**worker.headers, "Idempotency-Key": "reg-0002"})
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_a_households_own_categories_wait_for_the_stations_check(client):
    # 政策(一): who is 特困 or 低保 is for the civil-affairs records to say. What a household says
    # of itself is kept as its declaration; statistics, worksheets and policy matching count only
    # what a worker of its station checked.
    station, elsewhere = await make_station(), await make_station()
    worker, stranger = await make_worker(client, station), await make_worker(client, elsewhere)
    s, home = await make_resident(client, station, categories=["特困"])
    _, quiet = await make_resident(client, station, categories=[])
    assert home["categories"] == [] and home["declared_categories"] == ["特困"]
    assert quiet["declared_categories"] is None
    waiting = (await client.get("/api/v1/residents", params={"declared": "true"}, headers=worker.headers)).json()
    assert [r["id"] for r in waiting["items"]] == [home["id"]] and waiting["total"] == 1
    listed = await client.get("/api/v1/residents", params={"category": "特困"}, headers=worker.headers)
    assert listed.json()["items"] == []  # declared is not checked

    url = f"/api/v1/residents/{home['id']}/categories"
    # Bad input and the wrong people change nothing.
    assert_error(await client.put(url, json={"categories": ["皇亲国戚"]}, headers=worker.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.put(url, json={"categories": ["低保"]}, headers=s.headers), 403, "FORBIDDEN")
    assert_error(await client.put(url, json={"categories": ["低保"]}, headers=stranger.headers), 404, "NOT_FOUND")
    row = await ResidentProfile.get(id=home["id"])
    assert row.categories == [] and row.declared_categories == ["特困"]
    assert not await AuditLog.filter(action="resident.categories_checked").exists()

    r = await client.put(url, json={"categories": ["特困", "独居"]}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["categories"] == ["特困", "独居"] and r.json()["declared_categories"] is None
    audit = await AuditLog.get(action="resident.categories_checked", subject_id=home["id"])
    assert audit.actor_id == worker.id
    assert audit.detail == {"before": [], "declared": ["特困"], "after": ["特困", "独居"]}
    listed = await client.get("/api/v1/residents", params={"category": "特困"}, headers=worker.headers)
    assert [r["id"] for r in listed.json()["items"]] == [home["id"]]

    # Saving the profile again with what is checked leaves nothing waiting; saying otherwise
    # neither adds nor drops a checked category, it waits for the station again.
    again = resident_payload(station, categories=["独居", "特困"])
    r = await client.put("/api/v1/me/resident", json=again, headers=s.headers)
    assert r.json()["categories"] == ["特困", "独居"] and r.json()["declared_categories"] is None
    r = await client.put("/api/v1/me/resident", json={**again, "categories": ["低保"]}, headers=s.headers)
    assert r.json()["categories"] == ["特困", "独居"] and r.json()["declared_categories"] == ["低保"]

    # A worker's own edit of the whole profile is a check too.
    payload = resident_payload(station, categories=["低保"])
    r = await client.put(f"/api/v1/residents/{home['id']}", json=payload, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["categories"] == ["低保"] and r.json()["declared_categories"] is None

    # Closing the account takes the household's own say with it; the checked categories stay
    # as anonymous statistics.
    await client.put("/api/v1/me/resident", json={**payload, "categories": ["残疾"]}, headers=s.headers)
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200
    row = await ResidentProfile.get(id=home["id"])
    assert row.categories == ["低保"] and row.declared_categories is None
