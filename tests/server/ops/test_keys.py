"""Key rotation re-encrypts every personal-data column, seals what a sealed column still holds in
clear, and leaves the blind index alone."""

import pytest

from models import Assessment, Need, ResidentProfile, sealed
from server.pii import FieldCipher, generate_key
from server.care import assessments
from server.ops import keys
from server.workflow import needs
from tests.builders import iso, make_need, make_resident, make_station, make_volunteer, make_worker, soon
from tests.handlers.care.test_assessments import HARD


@pytest.fixture(autouse=True)
def restart_with_old_keys(api):
    """A rotation here is followed by a restart with the new keys (``sealed.install`` of the new
    cipher), as in production; the next test starts with the app's keys again."""
    yield
    sealed.install(api.cipher)


async def test_rotation_moves_every_column_to_the_new_key(api, client):
    station = await make_station()
    s, resident = await make_resident(client, station, guardian_phone="13800003001")
    await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345678"}, headers=s.headers)
    await make_volunteer(client, station, id_number="11010519491231002X")
    await make_need(client, s, location={"lat": 37.512345, "lng": 122.121234, "address": "新威社区3号楼2单元501室"})
    r = await client.post(f"/api/v1/residents/{resident['id']}/assessments",
                          json={"answers": HARD, "visited_at": iso(soon(-60)), "visit_notes": "卧床"},
                          headers=(await make_worker(client, station)).headers)
    assert r.status_code == 201, r.text
    old = api.cipher
    before_plain = {}
    for model, column, context in keys.ENCRYPTED_COLUMNS:
        for row in await model.filter(**{f"{column}__isnull": False}).values(model._meta.pk_attr, column):
            assert row[column].startswith(f"v1.{old.current_key_id}.")
            before_plain[(model, column, row[model._meta.pk_attr])] = old.decrypt(row[column], context=context)
    assert len({(m, c) for m, c, _ in before_plain}) == len(keys.ENCRYPTED_COLUMNS), "every column has data"
    index_before = (await ResidentProfile.get(id=resident["id"])).id_number_index

    settings = api.settings
    new = FieldCipher.from_settings(data_key="t2:" + generate_key(), retired_keys=settings.data_key,
                                    index_key=settings.index_key)
    counts = await keys.rotate(cipher=new, batch=2)
    sealed.install(new)
    encrypted = {f"{m._meta.db_table}.{c}" for m, c, _ in keys.ENCRYPTED_COLUMNS}
    assert sum(n for column, n in counts.items() if column in encrypted) == len(before_plain)
    # The sealed columns moved too: the household's categories, the need's words, the answers.
    assert counts["resident_profiles.categories"] >= 1 and counts["needs.description"] >= 1
    assert counts["assessments.answers"] == 1
    for (model, column, pk), plain in before_plain.items():
        token = (await model.filter(**{model._meta.pk_attr: pk}).values(column))[0][column]
        assert token.startswith("v1.t2.")
        assert new.decrypt(token, context=dict((c, ctx) for m, c, ctx in keys.ENCRYPTED_COLUMNS if m is model)[column]) == plain
    assert (await ResidentProfile.get(id=resident["id"])).id_number_index == index_before
    assert await keys.rotate(cipher=new) == {k: 0 for k in counts}  # nothing left


async def test_rotation_leaves_nothing_under_the_retired_key(api, client):
    """Every encrypted value, not only the profiles': a need's exact place and a home visit's notes
    must still read once the retired key is dropped, as the rotation procedure tells operators."""
    station = await make_station()
    worker = await make_worker(client, station)
    s, resident = await make_resident(client, station)
    need = await make_need(client, s, location={"lat": 37.512345, "lng": 122.121234, "address": "新威社区3号楼2单元501室"})
    r = await client.post(f"/api/v1/residents/{resident['id']}/assessments",
                          json={"answers": HARD, "visited_at": iso(soon(-60)), "visit_notes": "卧床,子女在外地"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text

    settings = api.settings
    new_key = "t2:" + generate_key()
    await keys.rotate(cipher=FieldCipher.from_settings(data_key=new_key, retired_keys=settings.data_key,
                                                       index_key=settings.index_key))
    only_new = FieldCipher.from_settings(data_key=new_key, index_key=settings.index_key)
    sealed.install(only_new)
    location = (await Need.get(id=need["id"])).location_enc
    assert "501室" in only_new.decrypt(location, context=needs.LOCATION_CONTEXT)
    notes = (await Assessment.get(id=r.json()["id"])).visit_notes_enc
    assert only_new.decrypt(notes, context=assessments.NOTES_CONTEXT) == "卧床,子女在外地"


async def test_one_value_no_key_opens_does_not_stop_the_rotation(api, client):
    station = await make_station()
    _, first = await make_resident(client, station)
    _, second = await make_resident(client, station)
    # A corrupted token (a bad restore, a hand edit): it names the old key but opens under none.
    good = (await ResidentProfile.get(id=first["id"])).phone_enc
    await ResidentProfile.filter(id=first["id"]).update(phone_enc=good[:-6] + "AAAAAA")
    settings = api.settings
    new = FieldCipher.from_settings(data_key="t2:" + generate_key(), retired_keys=settings.data_key,
                                    index_key=settings.index_key)
    unreadable: list = []
    counts = await keys.rotate(cipher=new, unreadable=unreadable)
    sealed.install(new)
    assert unreadable == [("resident_profiles.phone_enc", first["id"])]
    assert counts["resident_profiles.phone_enc"] >= 1
    moved = await ResidentProfile.get(id=second["id"])
    assert moved.phone_enc.startswith("v1.t2.") and moved.address_enc.startswith("v1.t2.")
    assert (await ResidentProfile.get(id=first["id"])).address_enc.startswith("v1.t2.")  # its other columns moved


async def test_rotation_seals_values_stored_in_clear(api, client):
    """Values written before their column was sealed (plain JSON, a date, text) are read as they
    are, and the rotation run seals them."""
    station = await make_station()
    s, resident = await make_resident(client, station)
    need = await make_need(client, s)
    from server import sql
    await sql.execute("UPDATE resident_profiles SET categories = %s, birth_date = %s, guardian_name = %s WHERE id = %s",
                      ['["低保","失能"]', "1948-03-02", "刘建华", resident["id"]])
    await sql.execute("UPDATE needs SET description = %s WHERE id = %s", ["老人独居,卧床", need["id"]])
    legacy = await ResidentProfile.get(id=resident["id"])
    assert legacy.categories == ["低保", "失能"] and str(legacy.birth_date) == "1948-03-02"

    counts = await keys.rotate(cipher=api.cipher)
    assert counts["resident_profiles.categories"] == 1 and counts["resident_profiles.birth_date"] == 1
    assert counts["resident_profiles.guardian_name"] == 1 and counts["needs.description"] == 1
    raw = (await sql.rows("SELECT categories, birth_date, guardian_name FROM resident_profiles WHERE id = %s",
                          [resident["id"]]))[0]
    assert all(sealed.is_token(v) for v in raw.values()), raw
    again = await ResidentProfile.get(id=resident["id"])
    assert again.categories == ["低保", "失能"] and again.guardian_name == "刘建华"
    assert (await Need.get(id=need["id"])).description == "老人独居,卧床"
    assert sum((await keys.rotate(cipher=api.cipher)).values()) == 0  # nothing left in clear
