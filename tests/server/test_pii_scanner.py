"""The PII scanner itself: it must catch a leak in a response and in a log line, and let the
audited unmasked read through."""

import logging

import pytest

from tests import pii_scanner
from tests.conftest import SCANNER
from tests.builders import make_resident, make_station


def test_patterns_find_ids_phones_and_session_keys_but_not_longer_numbers():
    assert pii_scanner.finds('{"id_number":"11010519491231002X"}') == ["id_number 1101…"]
    assert pii_scanner.finds("call 13912345678 now") == ["phone 1391…"]
    assert pii_scanner.finds('{"Session_Key": 1}') == ["session_key Sess…"]
    # Masked forms, longer digit runs (timestamps, ids in hex) are not PII.
    assert pii_scanner.finds("身份证号110105194912310021。") == ["id_number 1101…"]
    assert pii_scanner.finds('{"phone":"139****5678","id":"1101**********002X","ts":17320000000001,'
                             '"rid":"a13912345678b","le":"0.010234567890123456","col":"session_key_enc"}') == []


@pytest.mark.pii_leak_expected
async def test_a_leak_in_a_response_or_a_log_line_is_caught(client):
    start = len(SCANNER.violations)
    r = await client.get("/__test/echo", params={"text": "13912345678"})
    assert r.status_code == 200
    logging.getLogger("haibei.test").debug("looked up 11010519491231002X")
    found = SCANNER.violations[start:]
    assert any(v.startswith("response of /__test/echo (200): phone") for v in found), found
    assert any(v.startswith("log line of haibei.test: id_number") for v in found), found


async def test_the_audited_unmasked_read_is_exempt(client):
    station = await make_station()
    resident, profile = await make_resident(client, station, phone="13912345678")
    start = len(SCANNER.violations)
    r = await client.get(f"/api/v1/residents/{profile['id']}/unmasked", headers=resident.headers)
    assert r.status_code == 200 and "13912345678" in r.text
    assert SCANNER.violations[start:] == []
