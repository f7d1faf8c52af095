"""An administrator's retry of a dead letter that WeChat refused for a value: the message is
rendered again from its event under today's rules, and delivered."""

from collections import Counter

from models import OutboxMessage, SubscriptionQuota, User
from server.notifications import notify
from tests.builders import make_admin
from tests.server.notifications.test_notifications import drain, standin_messages


async def test_a_letter_refused_for_a_name_with_a_digit_is_rendered_again_and_delivered(client, api, standin):
    admin = await make_admin(client)
    now = api.app.ctx.clock()
    volunteer = await User.create(openid=f"rejected-{id(api)}")
    template = notify.TEMPLATES["record_rejected"]["template_id"]
    await notify.grant(user_id=volunteer.id, accepted=[template], rejected=[])
    ctx = {"task_id": 7, "title": "打扫卫生", "volunteer_name": "志愿者4号", "reason": "照片不清楚", "at": now}
    await notify.notify(user_id=volunteer.id, event="record_rejected", ctx=ctx, now=now)
    # The row as the older rules wrote it: the display name as it was, digit and all.
    (row,) = await OutboxMessage.filter(user_id=volunteer.id)
    await OutboxMessage.filter(id=row.id).update(data={**row.data, "name2": "志愿者4号"})

    assert await drain(api) == Counter(dead=1)  # the stand-in refused it, as WeChat did
    dead = await OutboxMessage.get(id=row.id)
    assert dead.last_error.startswith("47003") and "data.name2.value invalid" in dead.last_error, dead.last_error
    r = await client.get("/api/v1/admin/outbox/dead", headers=admin.headers)
    assert [d["id"] for d in r.json()] == [row.id], r.text

    r = await client.post("/api/v1/admin/outbox/retry", json={"ids": [row.id]}, headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"requeued": 1}, r.text
    assert (await OutboxMessage.get(id=row.id)).data["name2"] == "志某某"  # rendered again before it goes
    assert await drain(api) == Counter(sent=1)
    (message,) = [m["body"] for m in await standin_messages(standin) if m["body"]["touser"] == volunteer.openid]
    assert {k: v["value"] for k, v in message["data"].items()} == {
        "thing1": "打扫卫生", "name2": "志某某", "time3": notify._text(now), "phrase4": "已退回"}
    assert message["template_id"] == template and message["page"] == "pages/task/detail?id=7"
    # The consent WeChat gave back when it refused was spent again by the message it took.
    assert (await SubscriptionQuota.get(user_id=volunteer.id, template_id=template)).remaining == 0


async def test_a_letter_without_its_inbox_row_goes_again_as_it_was(client, api, standin):
    """Nothing to render it from: retried as it is, it dies of the same value again (and stays
    listed for the administrator), rather than being sent with made-up values."""
    admin = await make_admin(client)
    now = api.app.ctx.clock()
    user = await User.create(openid=f"orphan-{id(api)}")
    data = {"thing1": "打扫卫生", "name2": "志愿者4号", "time3": "2026-11-28 10:00", "phrase4": "已退回"}
    row = await OutboxMessage.create(notification_id=0, user_id=user.id, openid=user.openid,
                                     template_id=notify.TEMPLATES["record_rejected"]["template_id"],
                                     page="pages/task/detail?id=7", data=data, next_attempt_at=now, created_at=now)
    assert await drain(api) == Counter(dead=1)
    r = await client.post("/api/v1/admin/outbox/retry", json={"ids": [row.id]}, headers=admin.headers)
    assert r.json() == {"requeued": 1}, r.text
    assert (await OutboxMessage.get(id=row.id)).data == data
    assert await drain(api) == Counter(dead=1)
    assert await standin_messages(standin) == []
