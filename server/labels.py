"""What a person reads in place of a code: one table per vocabulary, in Chinese.

Ledgers, statistics and the staff console show these labels, never the codes the API carries; a
test checks that every value of every vocabulary has its label.
"""

from __future__ import annotations

from models.workflow import CLAIM_STATES, NEED_STATES, TASK_STATES

NEED_STATUS = {
    "submitted": "待受理", "accepted": "已受理", "dispatched": "已派单", "in_service": "服务中",
    "completed": "已完成", "closed": "已评价关闭", "rejected": "已驳回", "cancelled": "已撤销",
}
TASK_STATUS = {
    "open": "待认领", "referred": "已转介", "claimed": "已认领", "checked_in": "已签到", "submitted": "待确认",
    "confirmed": "已确认", "cancelled": "已取消", "expired": "已过期",
}
CLAIM_STATUS = {
    "claimed": "已认领", "checked_in": "已签到", "submitted": "已提交记录", "confirmed": "已确认",
    "released": "已退回", "cancelled": "已取消", "expired": "已过期",
}
URGENCY = {"normal": "一般", "urgent": "紧急"}
NEED_SOURCE = {
    "self": "本人申请", "worker": "工作人员代报", "grid_worker": "网格员发现", "visit": "走访发现",
    "hotline": "热线来电", "assessment": "评估发现",
}
ROLE = {"resident": "居民", "volunteer": "志愿者", "worker": "驿站工作人员", "org_staff": "社会组织人员",
        "admin": "管理员", "system": "系统"}
SUBJECT = {"need": "需求", "task": "任务", "claim": "认领"}
POINTS_KIND = {"service_award": "服务奖励", "reversal": "冲正", "adjustment": "人工调整", "redemption": "兑换",
               "redemption_refund": "兑换退回", "bonus": "奖励"}
REDEMPTION_STATUS = {"pending": "待领取", "fulfilled": "已领取", "cancelled": "已取消", "expired": "已过期"}
REFERRAL_STATUS = {"pending": "待回应", "accepted": "已接单", "declined": "已婉拒", "escalated": "已超时上报",
                   "withdrawn": "已撤回"}
PAIRING_STATUS = {"active": "进行中", "ended": "已结束"}
WEEKDAYS = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
VOLUNTEER_STATUS = {"pending": "待审核", "approved": "已通过", "rejected": "未通过", "suspended": "已暂停"}

VOCABULARIES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "need_status": (NEED_STATUS, NEED_STATES),
    "task_status": (TASK_STATUS, TASK_STATES),
    "claim_status": (CLAIM_STATUS, CLAIM_STATES),
}

_BY_NAME = {"need_status": NEED_STATUS, "task_status": TASK_STATUS, "claim_status": CLAIM_STATUS,
            "urgency": URGENCY, "need_source": NEED_SOURCE, "role": ROLE, "subject": SUBJECT,
            "volunteer_status": VOLUNTEER_STATUS, "points_kind": POINTS_KIND, "redemption_status": REDEMPTION_STATUS,
            "referral_status": REFERRAL_STATUS, "pairing_status": PAIRING_STATUS}


def label(vocabulary: str, code: str | None) -> str:
    """The label of ``code``; an unknown code is shown as it is rather than hidden."""
    if code is None:
        return ""
    return _BY_NAME[vocabulary].get(code, code)


def event_reason(reason: str | None) -> str:
    """A timeline row's reason as a person reads it: the few the workflow writes as ``key=value``
    (``source=self``, ``score=2``) in words; what a person wrote, as written."""
    if not reason:
        return ""
    key, sep, value = reason.partition("=")
    if sep and key == "source":
        return "来源:" + label("need_source", value)
    if sep and key == "score":
        return f"评分:{value} 分"
    if reason.startswith("org ") and reason[4:].isdigit():
        return "转介给社会组织"
    return reason
