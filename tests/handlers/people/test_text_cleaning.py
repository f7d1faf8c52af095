"""What people type into their profiles is stored without hidden characters (handlers/common.py
``Strict``, server/text.py): a right-to-left override or a zero-width space in a name is dropped, a
name is one line, notes keep their lines and emoji, and a name of nothing visible is refused."""

from models import ResidentProfile
from tests.builders import login, make_resident, make_station, make_worker, resident_payload, volunteer_payload
from tests.handlers.test_platform import assert_error


async def test_a_households_profile_is_stored_clean(client):
    station = await make_station()
    s = await login(client)
    payload = resident_payload(station, name="王\u202e秀英\u200b", community="鲸园街道\n新威\u00ad社区",
                               address="新威社区3号楼\x00501室", health_notes="高血压\u202e\n左腿骨折恢复中😀\r\n\t按时服药")
    r = await client.put("/api/v1/me/resident", json=payload, headers=s.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "王**"  # masked, and three characters long
    full = (await client.get(f"/api/v1/residents/{r.json()['id']}/unmasked", headers=s.headers)).json()
    assert full["name"] == "王秀英"
    assert full["community"] == "鲸园街道 新威社区"  # a one-line field
    assert full["address"] == "新威社区3号楼501室"
    assert full["health_notes"] == "高血压\n左腿骨折恢复中😀\n\t按时服药"
    assert (await ResidentProfile.get(id=full["id"])).name == "王秀英"


async def test_a_name_of_nothing_visible_is_refused(client):
    station = await make_station()
    s = await login(client)
    for name in ("\u202e\u200b", "\u3164", "\x00 \t"):
        r = await client.put("/api/v1/me/resident", json=resident_payload(station, name=name), headers=s.headers)
        err = assert_error(r, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in err["details"]] == ["name"], name


async def test_a_field_name_with_a_hidden_character_is_an_unknown_field(client):
    station = await make_station()
    s = await login(client)
    payload = resident_payload(station)
    payload["name\u200b"] = payload.pop("name")
    err = assert_error(await client.put("/api/v1/me/resident", json=payload, headers=s.headers), 400, "VALIDATION_ERROR")
    assert {d["field"] for d in err["details"]} == {"name", "name\u200b"}


async def test_a_volunteers_name_is_one_clean_line(client):
    station = await make_station()
    s = await login(client)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, name="赵\n志愿\u202e者\u200f"),
                         headers=s.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "赵 志愿者"


async def test_a_name_search_ignores_hidden_characters(client):
    station = await make_station()
    worker = await make_worker(client, station)
    await make_resident(client, station, name="王秀英")
    r = await client.get("/api/v1/residents", params={"name": "\u200b王\u202e"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1
