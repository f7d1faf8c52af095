"""Every notification kind, filled with what people and stations really type, goes through the
app's own path (render → outbox → the worker → WeChat, here the stand-in over HTTP) and WeChat
takes it: no 47003, no dead letter."""

import re
import string
from collections import Counter

from models import OutboxMessage, SubscriptionQuota, User
from server.notifications import notify
from tests.server.notifications.test_notifications import drain, standin_messages

# What context values hold at their worst: a volunteer's display name with a digit (the one that
# dead-lettered record_rejected), an emoji, a reason of 50 characters, nothing at all, a masked
# name, a line break, Latin.
LONG = "因为家中老人临时住院,无法按约定时间接受上门服务,所以申请取消本次服务,请驿站另行安排时间,谢谢您。"
ADVERSARIAL = ["志愿者4号", "😀张三", LONG, "", "赵**", "第一行\n第二行", "OK 3"]


def placeholders(spec: dict) -> set[str]:
    texts = [spec["page"], spec["body"], spec["title"], *spec["fields"].values()]
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


def adversarial_ctx(spec: dict, value: str, n: int) -> dict:
    """Every value the event's template reads is ``value``; ids stay numbers (they make the page)."""
    return {name: (n if name.endswith("_id") else value) for name in placeholders(spec)}


async def test_every_notification_kind_with_the_worst_values_is_taken_by_wechat(api, standin):
    assert len(LONG) == 50
    now = api.app.ctx.clock()
    user = await User.create(openid=f"adversarial-{id(api)}")
    sends = len(ADVERSARIAL) * len(notify.TEMPLATES)
    await SubscriptionQuota.bulk_create([SubscriptionQuota(user_id=user.id, template_id=t, remaining=sends)
                                         for t in notify.TEMPLATE_IDS])
    for n, value in enumerate(ADVERSARIAL, start=1):
        for event, spec in notify.TEMPLATES.items():
            await notify.notify(user_id=user.id, event=event, ctx=adversarial_ctx(spec, value, n), now=now)

    assert await OutboxMessage.filter(user_id=user.id).count() == sends
    assert await drain(api) == Counter(sent=sends)
    assert not await OutboxMessage.filter(status="dead").exists()
    messages = [m["body"] for m in await standin_messages(standin) if m["body"]["touser"] == user.openid]
    assert len(messages) == sends
    # ...and as the reader sees them: names withheld as Chinese writes them, texts cut, no emoji.
    names = {m["data"]["name2"]["value"] for m in messages if m["template_id"] == notify.TEMPLATES["task_claimed"]["template_id"]}
    assert {"志某某", "张三", "赵某某", "某某"} <= names, names
    things = [field["value"] for m in messages for key, field in m["data"].items() if key.startswith("thing")]
    assert max(map(len, things)) == 20 and any(t.endswith("…") for t in things)
    assert not any("😀" in field["value"] or "\n" in field["value"] for m in messages for field in m["data"].values())
    # A time keyword given no time ("", "赵**", …) still says a time WeChat takes.
    assert all(re.fullmatch(r"[\d:~ -]+", m["data"]["time3"]["value"]) for m in messages if "time3" in m["data"])
