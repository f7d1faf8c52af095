"""Closing an account (PIPL art. 47): personal data erased, history anonymised, act audited."""

import asyncio

import pytest

from models import (
    AuditLog, Need, Redemption, ResidentProfile, Reward, Task, TaskClaim, Upload, User, UserRole, VolunteerProfile,
    WechatSession,
)
from tests.builders import (
    give_points, login, make_need, make_open_task, make_resident, make_reward, make_station, make_task, make_volunteer,
    make_worker,
)
from tests.handlers.test_platform import assert_error


async def test_closing_erases_personal_data_and_revokes_tokens(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, resident = await make_resident(client, station, checked_by=worker)
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


async def test_closing_a_volunteer_erases_where_they_asked_to_hear_about_tasks(client):
    """The opted-in place (snapped to ~500 m, still where the person lives or works) and the
    reviewer's words about them are personal data like the rest (PIPL art. 47)."""
    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.put("/api/v1/me/volunteer/nearby", json={**HOME, "radius_km": 3}, headers=s.headers)
    assert r.status_code == 200, r.text
    await VolunteerProfile.filter(user_id=s.id).update(reject_reason="身份证照片与本人不符")  # from an earlier review
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200
    row = await VolunteerProfile.get(user_id=s.id)
    assert (row.nearby_lat, row.nearby_lng, row.nearby_km, row.reject_reason) == (None, None, None, None)


# ---- what the person still had going ends with the account ---------------------------------------

HOME = {"lat": 37.512345, "lng": 122.121234}  # resident_payload's household position


async def test_a_household_closing_cancels_its_needs_and_tasks_and_erases_the_place(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_resident(client, station)
    need = await make_need(client, s, description="独居,腿脚不便,住3号楼2单元501室",
                           location={**HOME, "address": "新威社区3号楼2单元501室"})
    task = await make_task(client, worker, need)
    claimant, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=claimant.headers)).status_code == 200
    later = await make_need(client, s, service_code="LIVING_MEAL")  # submitted, not yet accepted

    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200

    assert (await Need.get(id=need["id"])).location_enc is None
    for need_id in (need["id"], later["id"]):
        row = await Need.get(id=need_id)
        assert row.status == "cancelled" and row.description == "已注销"
    assert (await Task.get(id=task["id"])).status == "cancelled"
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.status == "cancelled" and claim.active_key is None
    # Nobody is sent there any more: not the claimant, not a volunteer browsing.
    other, _ = await make_volunteer(client, station, approved_by=worker)
    browse = await client.get("/api/v1/tasks/open", params=HOME, headers=other.headers)
    assert browse.json()["items"] == []
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=other.headers), 404, "NOT_FOUND")
    assert (await client.get("/api/v1/tasks/mine", headers=claimant.headers)).json()["items"] == []
    seen = await client.get(f"/api/v1/tasks/{task['id']}", headers=claimant.headers)
    assert seen.status_code in (200, 404) and "新威社区" not in seen.text and "腿脚不便" not in seen.text


async def test_a_volunteer_closing_gives_their_claims_back_to_the_pool(client):
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=s.headers)).status_code == 200

    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200

    assert (await TaskClaim.get(task_id=task["id"])).status == "released"
    row = await Task.get(id=task["id"])
    assert row.status == "open" and row.claimed_count == 0
    other, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=other.headers)).status_code == 200


async def test_closing_during_a_service_under_way_is_refused_and_changes_nothing(client, api):
    station = await make_station()
    task, need, worker, household = await make_open_task(client, station)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=s.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=s.headers)
    assert r.status_code == 200, r.text

    for session in (s, household):
        assert_error(await client.delete("/api/v1/me", headers=session.headers), 409, "SERVICE_IN_PROGRESS")
        assert (await User.get(id=session.id)).status == "active"
    assert (await TaskClaim.get(task_id=task["id"])).status == "checked_in"
    assert (await Need.get(id=need["id"])).status == "in_service"
    assert (await client.get("/api/v1/me", headers=s.headers)).status_code == 200


async def test_closing_cancels_pending_redemptions_and_returns_their_stock(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    await give_points(api, s, 30)
    reward = await make_reward(price=10, stock=3)
    r = await client.post(f"/api/v1/rewards/{reward.id}/redeem", headers={**s.headers, "Idempotency-Key": "close-1"})
    assert r.status_code == 201, r.text
    assert (await Reward.get(id=reward.id)).stock == 2

    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200

    assert (await Redemption.get(id=r.json()["id"])).status == "cancelled"
    assert (await Reward.get(id=reward.id)).stock == 3


async def test_a_household_served_on_a_task_still_open_for_more_volunteers_cannot_close(client):
    station = await make_station()
    task, _, worker, household = await make_open_task(client, station, volunteers_needed=2)
    s, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=s.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=s.headers)).status_code == 200
    assert (await Task.get(id=task["id"])).status == "open"  # a slot is still free
    assert_error(await client.delete("/api/v1/me", headers=household.headers), 409, "SERVICE_IN_PROGRESS")
    assert (await User.get(id=household.id)).status == "active"


async def test_a_double_tapped_close_closes_once_and_no_tap_is_told_otherwise(client):
    """The taps that lose the race find the account closed: done (200), or their login gone (401);
    never "cannot cancel, already cancelled" about a need the first tap cancelled."""
    station = await make_station()
    worker = await make_worker(client, station)
    for _ in range(3):
        s, _ = await make_resident(client, station)
        await make_need(client, s)
        v, _ = await make_volunteer(client, station, approved_by=worker)
        for person in (s, v):
            results = await asyncio.gather(*(client.delete("/api/v1/me", headers=person.headers) for _ in range(4)))
            assert {r.status_code for r in results} <= {200, 401} and 200 in {r.status_code for r in results}, \
                [r.text for r in results]
            assert await AuditLog.filter(action="account.close", subject_id=person.id).count() == 1


async def test_a_profile_or_phone_write_that_was_waiting_on_the_close_keeps_nothing(client, api):
    """A save authenticated just before the close committed reaches its service with the account
    as it was (active); it must not write the person's data back onto the closed account."""
    from tortoise.transactions import in_transaction

    from handlers.people.schemas import ResidentIn, VolunteerIn
    from server.errors import TokenInvalid
    from server.people import accounts, residents, volunteers
    from tests.builders import resident_payload, volunteer_payload

    station = await make_station()
    s, resident = await make_resident(client, station)
    await client.put("/api/v1/me/volunteer", json=volunteer_payload(station), headers=s.headers)
    before_close = await User.get(id=s.id)
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200

    writes = [
        residents.upsert_own(user=before_close, data=ResidentIn(**resident_payload(station)).model_dump(),
                             cipher=api.cipher, now=api.app.ctx.clock()),
        volunteers.upsert_own(user=before_close, data=VolunteerIn(**volunteer_payload(station)).model_dump(),
                              cipher=api.cipher),
        accounts.bind_phone(user=before_close, phone="13812345678", cipher=api.cipher),
        volunteers.set_nearby(user_id=s.id, lat=37.512345, lng=122.121234, radius_km=3),
    ]
    for write in writes:
        try:
            async with in_transaction():
                await write
        except TokenInvalid:
            pass
    row = await ResidentProfile.get(id=resident["id"])
    assert row.name == "已注销" and row.id_number_enc is None and row.phone_enc is None and row.address_enc is None
    volunteer = await VolunteerProfile.get(user_id=s.id)
    assert volunteer.name == "已注销" and volunteer.phone_enc is None and volunteer.status == "closed"
    assert volunteer.nearby_lat is None and volunteer.nearby_km is None
    user = await User.get(id=s.id)
    assert user.phone_enc is None and user.phone_masked is None


async def test_closing_a_household_erases_the_home_visit_notes(client):
    """Visit notes hold health and family details, as the profile's health notes do; the scores
    stay for the station's statistics, the words about the person go (PIPL art. 47)."""
    from models import Assessment
    from tests.handlers.care.test_assessments import HARD, assess

    station = await make_station()
    worker = await make_worker(client, station)
    s, resident = await make_resident(client, station)
    done = await assess(client, worker, resident["id"], HARD, visit_notes="卧床,子女在外地,独居在3号楼")
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200
    row = await Assessment.get(id=done["id"])
    assert row.visit_notes_enc is None and row.overall == done["overall"]


async def test_nothing_more_is_sent_to_a_closed_account_and_its_openid_is_not_kept(client, api, standin):
    """Messages still queued for the person (and those the closing itself writes, "your need was
    cancelled") must not reach a WeChat account that has left; nor may its openid stay behind in
    the outbox, tying the closed account to the person who can now start afresh (PIPL art. 47)."""
    from models import OutboxMessage
    from tests.server.notifications.test_notifications import drain, standin_messages, subscribe

    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_resident(client, station)
    openid = (await User.get(id=s.id)).openid
    await subscribe(client, s)
    need = await make_need(client, s)
    await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    assert await OutboxMessage.filter(user_id=s.id, status="pending").exists()
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200
    await drain(api)
    assert [m for m in await standin_messages(standin) if m["body"].get("touser") == openid] == []
    assert not await OutboxMessage.filter(openid=openid).exists()


async def test_a_login_that_was_waiting_on_the_close_leaves_nothing_on_the_closed_account(client, api):
    """A login that read the account just before its closing committed goes on writing the
    WeChat session key and the resident role. On the closed account they must not stay; the person
    gets a working login to a fresh account, as after any closing."""
    from tortoise.transactions import in_transaction

    from server.lifecycle import closing

    s = await login(client)
    async with in_transaction() as conn:
        # The closing holds the account row; the login's own write to the row waits on it.
        user = await User.select_for_update().get(id=s.id)
        pending = asyncio.ensure_future(client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{s.openid}"}))
        for _ in range(500):
            waiting = await conn.execute_query_dict(
                "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
                " AND INFO LIKE 'UPDATE `users` SET `last_login_at`%'")
            if waiting[0]["n"] or pending.done():
                break
            await asyncio.sleep(0.01)
        # Else the race under test never happened: the login did not queue behind the closing.
        assert waiting[0]["n"] and not pending.done(), \
            f"the login did not wait on the account row (done: {pending.done()}) within 500 polls"
        await closing.close_account(user=user)
    r = await pending
    assert r.status_code == 200, r.text
    assert not await WechatSession.filter(user_id=s.id).exists()
    assert not await UserRole.filter(user_id=s.id).exists()
    fresh = r.json()
    assert fresh["user"]["id"] != s.id
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh['token']}"})).status_code == 200


async def test_closing_keeps_no_wechat_push_event_of_the_person(client, api):
    """Handled push events are kept to spot WeChat's retries; each holds the openid and the
    person's subscription choices, which must not outlive the account (PIPL art. 47)."""
    import time
    import uuid

    from wechatpy.crypto import WeChatCrypto

    from models import CallbackEvent
    from tests.handlers.notifications.test_callback import popup_xml, sign

    s = await login(client)
    settings = api.settings
    crypto = WeChatCrypto(settings.wechat_callback_token, settings.wechat_aes_key, settings.wechat_appid)
    nonce, ts = uuid.uuid4().hex[:10], str(int(time.time()))
    encrypted = crypto.encrypt_message(popup_xml(s.openid, int(time.time()), ("TPL_POINTS", "accept")), nonce, ts)
    params = {"signature": sign(settings.wechat_callback_token, ts, nonce), "timestamp": ts, "nonce": nonce,
              "encrypt_type": "aes", "msg_signature": encrypted.split("<MsgSignature><![CDATA[")[1].split("]]>")[0],
              "openid": s.openid}
    r = await client.post("/api/v1/wechat/callback", params=params, content=encrypted.encode(),
                          headers={"content-type": "text/xml"})
    assert r.status_code == 200 and await CallbackEvent.filter(openid=s.openid).exists()
    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200
    assert not await CallbackEvent.filter(openid=s.openid).exists()


async def checked_in_with_photos(client, n: int):
    """A household's task with its volunteer checked in, and ``n`` photos the volunteer uploaded:
    (worker, household session, volunteer session, task, photo ids)."""
    from tests.handlers.workflow.test_catalogue_uploads import tiny_png

    station = await make_station()
    worker = await make_worker(client, station)
    s, _ = await make_resident(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task = await make_task(client, worker, await make_need(client, s))
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    ids = []
    for _ in range(n):
        r = await client.post("/api/v1/uploads", files={"file": ("a.png", tiny_png(), "image/png")},
                              headers=volunteer.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return worker, s, volunteer, task, ids


async def confirmed_with_a_photo(client):
    """A service recorded (30 minutes) with the first of two uploads as its photo, and confirmed:
    (worker, household session, volunteer, task, (the record's photo, the loose upload))."""
    from tests.builders import record_after

    worker, s, volunteer, task, (attached, loose) = await checked_in_with_photos(client, 2)
    assert (await record_after(client, task["id"], volunteer, 30, photos=[attached])).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    return worker, s, volunteer, task, (attached, loose)


async def test_a_household_closing_erases_the_photos_of_its_services_and_the_records_stay(client, api):
    from tests.handlers.workflow.test_catalogue_uploads import tiny_png

    worker, s, volunteer, task, (photo, kept_elsewhere) = await confirmed_with_a_photo(client)
    key = (await Upload.get(id=photo)).storage_key
    assert await api.app.ctx.storage.get(key) == tiny_png()

    assert (await client.delete("/api/v1/me", headers=s.headers)).status_code == 200

    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.photos == [] and not await Upload.exists(id=photo)
    with pytest.raises(FileNotFoundError):
        await api.app.ctx.storage.get(key)
    # The record of the service stays, and the volunteer's hours and points with it.
    assert claim.status == "confirmed" and claim.verified_minutes == 30 and claim.points_due
    # The volunteer's upload no record holds is theirs, not the household's: it stays.
    assert await Upload.exists(id=kept_elsewhere)


async def test_a_volunteer_closing_erases_their_unattached_uploads_not_those_of_records(client, api):
    from tests.handlers.workflow.test_catalogue_uploads import tiny_png

    worker, _, volunteer, task, (attached, loose) = await confirmed_with_a_photo(client)
    loose_key = (await Upload.get(id=loose)).storage_key
    assert await api.app.ctx.storage.get(loose_key) == tiny_png()

    assert (await client.delete("/api/v1/me", headers=volunteer.headers)).status_code == 200

    assert not await Upload.exists(id=loose)
    with pytest.raises(FileNotFoundError):
        await api.app.ctx.storage.get(loose_key)
    # The household's service record keeps its photo: it is the household's, not the volunteer's.
    assert await Upload.exists(id=attached) and (await TaskClaim.get(task_id=task["id"])).photos == [attached]
