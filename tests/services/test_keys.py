"""Key rotation re-encrypts every personal-data column and leaves the blind index alone."""


from models import ResidentProfile
from server.pii import FieldCipher, generate_key
from server.services import keys
from tests.builders import make_resident, make_station, make_volunteer


async def test_rotation_moves_every_column_to_the_new_key(api, client):
    station = await make_station()
    s, resident = await make_resident(client, station, guardian_phone="13800003001")
    await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345678"}, headers=s.headers)
    await make_volunteer(client, station, id_number="11010519491231002X")
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
    assert sum(counts.values()) == len(before_plain)
    for (model, column, pk), plain in before_plain.items():
        token = (await model.filter(**{model._meta.pk_attr: pk}).values(column))[0][column]
        assert token.startswith("v1.t2.")
        assert new.decrypt(token, context=dict((c, ctx) for m, c, ctx in keys.ENCRYPTED_COLUMNS if m is model)[column]) == plain
    assert (await ResidentProfile.get(id=resident["id"])).id_number_index == index_before
    assert await keys.rotate(cipher=new) == {k: 0 for k in counts}  # nothing left
