"""No oracle on who is in hardship: saving one's own profile answers the same whether or not a
household holds the ID number given, and the holder's station settles whose number it is."""

import random

from models import AuditLog, IdentityCase, ResidentProfile
from server.pii import make_valid_id_number
from tests.builders import login, make_need, make_resident, make_station, make_worker, random_id_number, resident_payload
from tests.handlers.test_platform import assert_error

VARYING = {"id", "created_at", "updated_at", "id_number"}  # the row's own, and the number each typed


def comparable(response) -> tuple:
    body = response.json()
    return response.status_code, {k: v for k, v in body.items() if k not in VARYING}, sorted(response.headers.keys())


async def test_a_registered_and_an_unregistered_number_get_identical_answers(client):
    a, b = await make_station(), await make_station()
    # Two numbers alike in all a profile shows of them (birth date, so age; sex): only the digits differ.
    first, second = random.sample(range(10, 50), 2)
    held, fresh = (make_valid_id_number(region="371002", birth="19430512", seq=f"{n}2") for n in (first, second))
    await make_resident(client, a, id_number=held)

    newcomer, stranger = await login(client), await login(client)
    payload = resident_payload(b, name="李桂兰", phone="13912340000")
    to_held = await client.put("/api/v1/me/resident", json={**payload, "id_number": held}, headers=newcomer.headers)
    to_fresh = await client.put("/api/v1/me/resident", json={**payload, "id_number": fresh}, headers=stranger.headers)
    assert to_held.status_code == 200, to_held.text
    assert comparable(to_held) == comparable(to_fresh)
    assert to_held.json()["notice"] == "已提交,驿站核实后生效"
    # Each sees their own profile as they typed it, now and later: nothing tells them apart.
    assert to_held.json()["id_number"][-4:] == held[-4:] and to_fresh.json()["id_number"][-4:] == fresh[-4:]
    again_held = await client.get("/api/v1/me/resident", headers=newcomer.headers)
    again_fresh = await client.get("/api/v1/me/resident", headers=stranger.headers)
    assert comparable(again_held) == comparable(again_fresh)
    # Saving again changes nothing of that either, and opens no second case.
    resaved = await client.put("/api/v1/me/resident", json={**payload, "id_number": held}, headers=newcomer.headers)
    assert comparable(resaved) == comparable(to_fresh)
    assert await IdentityCase.filter(status="open").count() == 1


async def test_the_household_that_held_the_number_is_never_refused(client):
    """Someone takes a real person's number first; the real person registers and is served."""
    station = await make_station()
    number = random_id_number()
    _, squatter = await make_resident(client, station, id_number=number)
    real, mine = await make_resident(client, station, id_number=number)
    assert mine["id"] != squatter["id"]
    need = await make_need(client, real)
    assert need["status"] == "submitted"
    case = await IdentityCase.get(status="open")
    assert case.claimant_id == mine["id"]
    assert case.number_index == (await ResidentProfile.get(id=squatter["id"])).id_number_index


async def test_the_holders_station_sees_both_profiles_and_settles(client):
    a, b = await make_station(), await make_station()
    number = random_id_number()
    worker_a, worker_b = await make_worker(client, a), await make_worker(client, b)
    _, holder = await make_resident(client, a, id_number=number, name="张玉梅")
    claimant_session, claimant = await make_resident(client, b, id_number=number, name="王建国")

    listed = await client.get("/api/v1/residents/identity-cases", headers=worker_a.headers)
    assert listed.status_code == 200, listed.text
    [case] = listed.json()["items"]
    assert case["status"] == "open" and case["station_id"] == a.id and case["claimant_station_id"] == b.id
    assert case["holder"]["id"] == holder["id"] and case["claimant"]["id"] == claimant["id"]
    assert case["holder"]["masked"] and case["holder"]["name"] == "张**"  # side by side, masked
    # The claimant's station follows the case but does not settle it.
    assert [c["id"] for c in (await client.get("/api/v1/residents/identity-cases",
                                               headers=worker_b.headers)).json()["items"]] == [case["id"]]
    r = await client.post(f"/api/v1/residents/identity-cases/{case['id']}/settle",
                          json={"outcome": "claimant_takes"}, headers=worker_b.headers)
    assert_error(r, 403, "FORBIDDEN")
    # A station with no part in it sees nothing.
    outsider = await make_worker(client, await make_station())
    assert (await client.get("/api/v1/residents/identity-cases", headers=outsider.headers)).json()["items"] == []
    r = await client.post(f"/api/v1/residents/identity-cases/{case['id']}/settle",
                          json={"outcome": "claimant_takes"}, headers=outsider.headers)
    assert_error(r, 404, "NOT_FOUND")
    r = await client.post(f"/api/v1/residents/identity-cases/{case['id']}/settle",
                          json={"outcome": "nobody"}, headers=worker_a.headers)
    assert r.status_code == 400
    assert await IdentityCase.filter(status="open").count() == 1

    # The visit showed the number is the newcomer's: it moves, with its index.
    r = await client.post(f"/api/v1/residents/identity-cases/{case['id']}/settle",
                          json={"outcome": "claimant_takes", "note": "核对户口本"}, headers=worker_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "settled" and r.json()["outcome"] == "claimant_takes"
    old, new = await ResidentProfile.get(id=holder["id"]), await ResidentProfile.get(id=claimant["id"])
    assert old.id_number_index is None and old.id_number_enc is None
    assert new.id_number_index is not None
    assert await AuditLog.filter(action="identity_case.settle", actor_id=worker_a.id).count() == 1
    r = await client.post(f"/api/v1/residents/identity-cases/{case['id']}/settle",
                          json={"outcome": "holder_keeps"}, headers=worker_a.headers)
    assert_error(r, 409, "CASE_SETTLED")
    # A worker registering the number now is told it is held, by the claimant's station.
    r = await client.post("/api/v1/residents", json=resident_payload(a, id_number=number), headers=worker_a.headers)
    assert assert_error(r, 409, "DUPLICATE_HOUSEHOLD")["details"] == {"station_id": b.id}


async def test_holder_keeps_clears_the_claimants_number(client):
    station = await make_station()
    worker = await make_worker(client, station)
    number = random_id_number()
    _, holder = await make_resident(client, station, id_number=number)
    _, claimant = await make_resident(client, station, id_number=number)
    case = await IdentityCase.get(status="open")
    r = await client.post(f"/api/v1/residents/identity-cases/{case.id}/settle", json={"outcome": "holder_keeps"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    assert (await ResidentProfile.get(id=claimant["id"])).id_number_enc is None
    assert (await ResidentProfile.get(id=holder["id"])).id_number_index is not None


async def test_saving_with_another_number_withdraws_the_claim(client):
    station = await make_station()
    number = random_id_number()
    await make_resident(client, station, id_number=number)
    session, mine = await make_resident(client, station, id_number=number)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station, id_number=random_id_number()),
                         headers=session.headers)
    assert r.status_code == 200, r.text
    case = await IdentityCase.get(claimant_id=mine["id"])
    assert (case.status, case.outcome) == ("settled", "withdrawn")
    assert (await ResidentProfile.get(id=mine["id"])).id_number_index is not None
