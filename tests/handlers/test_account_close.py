"""Closing an account (PIPL art. 47): personal data erased, history anonymised, act audited."""

from models import AuditLog, ResidentProfile, User, UserRole, VolunteerProfile, WechatSession
from tests.builders import login, make_resident, make_station, make_volunteer, make_worker
from tests.handlers.test_platform import assert_error


async def test_closing_erases_personal_data_and_revokes_tokens(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, resident = await make_resident(client, station)
    await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345678"}, headers=s.headers)
    await client.put("/api/v1/me/volunteer", json={"name": "王秀英", "phone": "13812345678", "skills": [],
                                                   "station_id": station.id}, headers=s.headers)
    r = await client.delete("/api/v1/me", headers=s.headers)
    assert r.status_code == 200, r.text

    user = await User.get(id=s.id)
    assert user.status == "closed" and user.openid is None and user.phone_enc is None and user.closed_at
    assert not await WechatSession.exists(user_id=s.id)
    assert not await UserRole.exists(user_id=s.id)
    row = await ResidentProfile.get(id=resident["id"])
    assert row.status == "closed" and row.name == "已注销"
    for column in ("id_number_enc", "id_number_index", "id_number_masked", "phone_enc", "address_enc",
                   "location_enc", "health_notes_enc", "birth_date", "community"):
        assert getattr(row, column) is None, column
    assert row.categories == ["特困", "独居"] and row.station_id == station.id  # anonymous statistics stay
    volunteer = await VolunteerProfile.get(user_id=s.id)
    assert volunteer.phone_enc is None and volunteer.name == "已注销" and volunteer.status == "closed"
    assert await AuditLog.filter(action="account.close", subject_id=s.id, actor_id=s.id).exists()

    # Old tokens die with the account; the worker no longer sees the household.
    assert_error(await client.get("/api/v1/me", headers=s.headers), 401, "TOKEN_INVALID")
    assert_error(await client.get(f"/api/v1/residents/{resident['id']}", headers=worker.headers), 404, "NOT_FOUND")
    listed = await client.get("/api/v1/residents", headers=worker.headers)
    assert listed.json()["total"] == 0


async def test_the_same_wechat_user_can_start_afresh(client):
    station = await make_station()
    s, resident = await make_resident(client, station)
    await client.delete("/api/v1/me", headers=s.headers)
    again = await login(client, s.openid)
    assert again.id != s.id and again.user["roles"] == ["resident"]
    assert (await client.get("/api/v1/me", headers=again.headers)).json()["resident"] is None
    # The freed ID number may be registered again: the blind index was erased with the profile.
    r = await client.put("/api/v1/me/resident", json={
        "name": "王秀英", "station_id": station.id, "categories": ["特困"],
    }, headers=again.headers)
    assert r.status_code == 200


async def test_closing_a_volunteer_removes_the_role(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    await client.delete("/api/v1/me", headers=s.headers)
    assert not await UserRole.exists(user_id=s.id, role="volunteer")
    listed = await client.get("/api/v1/volunteers", headers=worker.headers)
    assert listed.json()["total"] == 0
