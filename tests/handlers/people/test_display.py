"""What the mini-program has to show: a volunteer's display name (昵称) on the leaderboards, the
station to call on a claimed task, and what a redemption is for and where to fetch it."""

import uuid
from datetime import timedelta

from models import Reward, User, VolunteerProfile
from tests.builders import (
    NEAR_HOME, account_changed, give_points, login, make_admin, make_open_task, make_reward, make_station,
    make_volunteer, make_worker, volunteer_payload,
)
from tests.handlers.test_platform import assert_error

BOARD = {"scope": "station", "period": "all", "metric": "points"}


async def set_display_name(client, session, station, display_name, **payload):
    """Save the volunteer's application as the mini-program's profile form does, with a display name."""
    body = volunteer_payload(station, **payload)
    body["display_name"] = display_name
    return await client.put("/api/v1/me/volunteer", json=body, headers=session.headers)


# --- display names ------------------------------------------------------------------------


async def test_a_display_name_is_shown_on_the_leaderboards_and_the_others_stay_masked(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    star, _ = await make_volunteer(client, station, approved_by=worker, name="王小明")
    other, _ = await make_volunteer(client, station, approved_by=worker, name="李小红")
    r = await set_display_name(client, star, station, "  海边的小雷锋 ", name="王小明")
    assert r.status_code == 200, r.text
    # Kept trimmed, beside the real name; the approval stands (the station vouched for the name, not the 昵称).
    assert r.json()["display_name"] == "海边的小雷锋" and r.json()["name"] == "王小明"
    assert r.json()["status"] == "approved"
    me = (await client.get("/api/v1/me", headers=star.headers)).json()
    assert me["volunteer"]["display_name"] == "海边的小雷锋"
    await give_points(api, star, 40)
    await give_points(api, other, 20)

    board = (await client.get("/api/v1/leaderboard", params=BOARD, headers=other.headers)).json()
    assert [(i["name"], i["value"]) for i in board["items"]] == [("海边的小雷锋", 40), ("李**", 20)]
    # Without Redis the board comes from the ledger, with the same names.
    from server.points import leaderboard

    ctx = api.app.ctx
    from_ledger = await leaderboard._read_ledger(scope="station", scope_id=station.id, period="all", metric="points",
                                                 user_id=other.id, limit=20, now=ctx.clock())
    assert from_ledger["items"] == board["items"]

    # Left out of a later save, it stays; sent empty or null, it goes, and the masked name is back.
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, name="王小明"), headers=star.headers)
    assert r.json()["display_name"] == "海边的小雷锋"
    for cleared in ("", None):
        assert (await set_display_name(client, star, station, "海边的小雷锋", name="王小明")).status_code == 200
        r = await set_display_name(client, star, station, cleared, name="王小明")
        assert r.status_code == 200 and r.json()["display_name"] is None, r.text
        board = (await client.get("/api/v1/leaderboard", params=BOARD, headers=other.headers)).json()
        assert [i["name"] for i in board["items"]] == ["王**", "李**"]


async def test_a_risky_display_name_is_refused_in_chinese_and_nothing_is_saved(client):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await set_display_name(client, volunteer, station, "小太阳")).status_code == 200
    # The local word list ("赌博", however written), WeChat's risky verdict, and what WeChat would
    # have a person review: the name would be shown city-wide at once, so only a clean one is kept.
    for name, source in (("赌博高手", "local"), ("賭 博高手", "local"), ("违禁小王", "wechat"), ("待审小王", "wechat_review")):
        error = assert_error(await set_display_name(client, volunteer, station, name), 422, "CONTENT_RISKY")
        assert error["details"]["field"] == "display_name" and error["details"]["source"] == source, name
        assert "内容" in error["message"]
    row = await VolunteerProfile.get(user_id=volunteer.id)
    assert row.display_name == "小太阳"


async def test_a_display_name_is_one_line_of_at_most_12_characters_and_no_phone_number(client):
    station = await make_station()
    volunteer, _ = await make_volunteer(client, station)
    error = assert_error(await set_display_name(client, volunteer, station, "一二三四五六七八九十一二三"), 400,
                         "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "display_name" and error["details"][0]["reason"] == "最多 12 个字"
    # Twelve is fine, emoji and all; a line break becomes a space (one line).
    assert (await set_display_name(client, volunteer, station, "一二三四五六七八九十一🌊")).json()["display_name"] \
        == "一二三四五六七八九十一🌊"
    assert (await set_display_name(client, volunteer, station, "海边\n雷锋")).json()["display_name"] == "海边 雷锋"
    # A phone number would be published to the whole city, however it is written.
    for name in ("13812345678", "１３８12345678", "138-12345678", "V13812345678"):
        error = assert_error(await set_display_name(client, volunteer, station, name), 400, "VALIDATION_ERROR")
        assert error["details"][0]["reason"] == "昵称中不能包含手机号"
    assert (await VolunteerProfile.get(user_id=volunteer.id)).display_name == "海边 雷锋"


async def test_without_a_recent_wechat_session_a_new_display_name_waits_for_one(client, api):
    """msgSecCheck needs a session of the last two hours. A new name is refused until there is one
    (a fresh login passes); saving the application again with the name it has needs no check."""
    station = await make_station()
    volunteer, _ = await make_volunteer(client, station)
    assert (await set_display_name(client, volunteer, station, "小太阳")).status_code == 200
    await User.filter(id=volunteer.id).update(last_login_at=api.app.ctx.clock() - timedelta(hours=3))
    await account_changed(volunteer.id)
    error = assert_error(await set_display_name(client, volunteer, station, "小月亮"), 503, "CONTENT_UNCHECKED")
    assert error["details"] == {"field": "display_name", "reason": "no_session"} and "小程序" in error["message"]
    assert (await set_display_name(client, volunteer, station, "小太阳", skills=[])).status_code == 200
    again = await login(client, volunteer.openid)
    r = await set_display_name(client, again, station, "小月亮")
    assert r.status_code == 200 and r.json()["display_name"] == "小月亮", r.text


async def test_closing_the_account_takes_the_display_name_too(client):
    station = await make_station()
    volunteer, _ = await make_volunteer(client, station)
    assert (await set_display_name(client, volunteer, station, "小太阳")).status_code == 200
    assert (await client.delete("/api/v1/me", headers=volunteer.headers)).status_code == 200
    row = await VolunteerProfile.get(user_id=volunteer.id)
    assert row.status == "closed" and row.display_name is None


# --- the station on a claimed task --------------------------------------------------------


async def test_a_claimed_task_names_the_station_and_its_phone_the_open_list_does_not(client):
    station = await make_station(name="鲸园街道驿站", phone="0631-5200000")
    task, _, worker, _ = await make_open_task(client, station)
    claimant, _ = await make_volunteer(client, station, approved_by=worker)
    browser, _ = await make_volunteer(client, station, approved_by=worker)
    listed = (await client.get("/api/v1/tasks/open", params=NEAR_HOME, headers=browser.headers)).json()["items"]
    assert [t["id"] for t in listed] == [task["id"]] and all("station" not in t for t in listed)

    called = {"name": "鲸园街道驿站", "phone": "0631-5200000"}
    won = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=claimant.headers)
    assert won.status_code == 200, won.text
    assert won.json()["station"] == called and won.json()["contact"]["call_hint"] == "请通过驿站电话联系服务对象"
    shown = (await client.get(f"/api/v1/tasks/{task['id']}", headers=claimant.headers)).json()
    assert shown["station"] == called
    mine = (await client.get("/api/v1/tasks/mine", headers=claimant.headers)).json()["items"]
    assert [t["station"] for t in mine] == [called]
    # The station's workers see it too; another volunteer looking at the task does not.
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=worker.headers)).json()["station"] == called
    station_list = (await client.get("/api/v1/tasks/station", headers=worker.headers)).json()["items"]
    assert [t["station"] for t in station_list] == [called]
    other = await client.get(f"/api/v1/tasks/{task['id']}", headers=browser.headers)
    assert other.status_code in (200, 404) and (other.status_code == 404 or other.json().get("station") is None)

    # Given back, the task tells its former claimant no more than anyone else.
    released = (await client.post(f"/api/v1/tasks/{task['id']}/release", headers=claimant.headers)).json()
    assert released.get("station") is None and released.get("contact") is None


async def test_admins_give_a_station_a_phone_people_can_dial(client):
    admin = await make_admin(client)
    station = await make_station()
    url = f"/api/v1/admin/stations/{station.id}"
    for typed, kept in (("0631 520 0000", "0631-5200000"), ("（0631）5200001转8", "0631-5200001转8"),
                        ("400 123 4567", "400-123-4567"), ("+86 138 0631 0000", "138-0631-0000")):
        r = await client.patch(url, json={"phone": typed}, headers=admin.headers)
        assert r.status_code == 200 and r.json()["phone"] == kept, r.text
    for wrong in ("12345", "5200000", "0631-52", "电话"):
        error = assert_error(await client.patch(url, json={"phone": wrong}, headers=admin.headers), 400, "VALIDATION_ERROR")
        assert error["details"][0]["field"] == "phone" and "0631-5200000" in error["details"][0]["reason"]
    r = await client.post("/api/v1/admin/stations", headers=admin.headers, json={
        "district_id": station.district_id, "name": "新驿站", "town": "新街道", "address": "新路1号", "phone": ""})
    assert r.status_code == 201 and r.json()["phone"] is None, r.text


# --- what a redemption is for ------------------------------------------------------------


async def test_a_redemption_shows_the_reward_its_picture_where_to_fetch_it_and_its_state_in_words(client, api):
    admin = await make_admin(client)
    station = await make_station(name="鲸园街道驿站", address="文化中路12号", phone="0631-5200000")
    r = await client.post("/api/v1/admin/rewards", headers=admin.headers, json={
        "name": "爱心米面油礼包", "donor": "威海某爱心企业", "price": 10, "stock": 3,
        "valid_from": (api.app.ctx.clock() - timedelta(days=1)).isoformat(),
        "valid_until": (api.app.ctx.clock() + timedelta(days=30)).isoformat(),
        "pickup_station_ids": [station.id], "pickup_place": "驿站一楼服务台,工作日 9:00-17:00",
        "image_url": "https://img.example.cn/rewards/rice.jpg"})
    assert r.status_code == 201, r.text
    reward = r.json()
    assert reward["pickup_place"] == "驿站一楼服务台,工作日 9:00-17:00"
    assert reward["image_url"] == "https://img.example.cn/rewards/rice.jpg"
    listed = (await client.get("/api/v1/rewards", headers=admin.headers)).json()
    assert listed[0]["image_url"] == reward["image_url"]

    volunteer = await login(client)
    await give_points(api, volunteer, 25)
    r = await client.post(f"/api/v1/rewards/{reward['id']}/redeem",
                          headers={**volunteer.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    redeemed = r.json()
    assert redeemed["reward_id"] == reward["id"] and redeemed["status_label"] == "待领取"
    assert redeemed["reward"] == {
        "id": reward["id"], "name": "爱心米面油礼包", "image_url": "https://img.example.cn/rewards/rice.jpg",
        "pickup_place": "驿站一楼服务台,工作日 9:00-17:00",
        "pickup_stations": [{"id": station.id, "name": "鲸园街道驿站", "address": "文化中路12号", "phone": "0631-5200000"}],
    }
    mine = (await client.get("/api/v1/redemptions/mine", headers=volunteer.headers)).json()
    assert mine == [redeemed]
    cancelled = (await client.post(f"/api/v1/redemptions/{redeemed['id']}/cancel", headers=volunteer.headers)).json()
    assert cancelled["status"] == "cancelled" and cancelled["status_label"] == "已取消"
    assert cancelled["reward"] == redeemed["reward"]


async def test_a_reward_without_picture_or_place_is_picked_up_anywhere(client, api):
    """The redemption still names the reward; no pick-up stations listed: any station hands it over."""
    reward = await make_reward()
    volunteer = await login(client)
    await give_points(api, volunteer, 25)
    r = await client.post(f"/api/v1/rewards/{reward.id}/redeem",
                          headers={**volunteer.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert r.json()["reward"] == {"id": reward.id, "name": "爱心米面油礼包", "image_url": None, "pickup_place": None,
                                  "pickup_stations": []}
    worker = await make_worker(client, await make_station())
    done = await client.post("/api/v1/redemptions/fulfil", json={"code": r.json()["pickup_code"]}, headers=worker.headers)
    assert done.status_code == 200 and done.json()["status_label"] == "已领取", done.text


async def test_admins_change_a_rewards_picture_and_pickup_place(client):
    admin = await make_admin(client)
    reward = await make_reward(pickup_place="驿站服务台")
    url = f"/api/v1/admin/rewards/{reward.id}"
    r = await client.patch(url, json={"image_url": "https://img.example.cn/a.png"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["image_url"] == "https://img.example.cn/a.png", r.text
    assert r.json()["pickup_place"] == "驿站服务台" and r.json()["stock"] == 5  # what was not sent stays
    for wrong in ("http://img.example.cn/a.png", "javascript:alert(1)", "https://", "img.example.cn/a.png"):
        error = assert_error(await client.patch(url, json={"image_url": wrong}, headers=admin.headers), 400,
                             "VALIDATION_ERROR")
        assert error["details"][0]["reason"] == "请填写以 https:// 开头的图片网址"
    r = await client.patch(url, json={"pickup_place": None, "image_url": ""}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["pickup_place"] is None and r.json()["image_url"] is None
    row = await Reward.get(id=reward.id)
    assert row.pickup_place is None and row.image_url is None
