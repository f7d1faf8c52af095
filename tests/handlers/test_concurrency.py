"""Real concurrent requests against the database: double taps and races end in one clean result."""

import asyncio

from models import ResidentProfile, User, UserRole, VolunteerProfile, WechatSession
from tests.builders import login, make_station, new_openid, random_id_number, resident_payload, volunteer_payload


async def test_concurrent_first_logins_create_one_account(client):
    openid = new_openid()
    results = await asyncio.gather(*(
        client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{openid}"}) for _ in range(6)
    ))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    assert len({r.json()["user"]["id"] for r in results}) == 1
    user = await User.get(openid=openid)
    assert await UserRole.filter(user_id=user.id, role="resident").count() == 1
    assert await WechatSession.filter(user_id=user.id).count() == 1


async def test_double_submitted_profile_makes_one_row(client):
    station = await make_station()
    s = await login(client)
    payload = resident_payload(station)
    results = await asyncio.gather(*(client.put("/api/v1/me/resident", json=payload, headers=s.headers) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5, [r.text for r in results]
    assert await ResidentProfile.filter(user_id=s.id).count() == 1
    vp = volunteer_payload(station)
    results = await asyncio.gather(*(client.put("/api/v1/me/volunteer", json=vp, headers=s.headers) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5
    assert await VolunteerProfile.filter(user_id=s.id).count() == 1


async def test_same_id_number_registered_at_once_by_two_people_lets_one_in(client):
    station = await make_station()
    id_number = random_id_number()
    people = [await login(client) for _ in range(4)]
    results = await asyncio.gather(*(
        client.put("/api/v1/me/resident", json=resident_payload(station, id_number=id_number), headers=p.headers)
        for p in people
    ))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409], [r.text for r in results]
    assert all(r.json()["error"]["code"] == "DUPLICATE_HOUSEHOLD" for r in results if r.status_code == 409)
    assert await ResidentProfile.all().count() == 1


async def test_same_need_submitted_at_once_lands_once(client):
    from models import Need
    from tests.builders import make_resident

    station = await make_station()
    resident, _ = await make_resident(client, station)
    body = {"service_code": "CLEAN_HOME", "description": "打扫"}
    results = await asyncio.gather(*(client.post("/api/v1/needs", json=body, headers=resident.headers) for _ in range(6)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 5, [r.text for r in results]
    assert all(r.json()["error"]["code"] == "NEED_DUPLICATE" for r in results if r.status_code == 409)
    assert await Need.all().count() == 1
