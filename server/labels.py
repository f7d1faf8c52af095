"""What a person reads in place of a code: one table per vocabulary, in Chinese.

Ledgers, statistics and the staff console show these labels, never the codes the API carries; a
test (tests/server/test_labels.py) checks that every code of every vocabulary has its label.
"""

from __future__ import annotations

import re

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
        "district_admin": "区市管理员", "admin": "管理员", "system": "系统"}
SUBJECT = {"need": "需求", "task": "任务", "claim": "认领"}
POINTS_KIND = {"service_award": "服务奖励", "reversal": "冲正", "adjustment": "人工调整", "redemption": "兑换",
               "redemption_refund": "兑换退回", "bonus": "奖励", "expiry": "积分过期"}
REDEMPTION_STATUS = {"pending": "待领取", "fulfilled": "已领取", "cancelled": "已取消", "expired": "已过期"}
REFERRAL_STATUS = {"pending": "待回应", "accepted": "已接单", "declined": "已婉拒", "escalated": "已超时上报",
                   "withdrawn": "已撤回"}
PAIRING_STATUS = {"active": "进行中", "ended": "已结束"}
# A task referred to a department (部门联动, models/linkage.py DEPARTMENT_REFERRAL_STATES).
DEPARTMENT_REFERRAL_STATUS = {"pending": "待部门反馈", "served": "部门已服务", "returned": "部门已退回",
                              "withdrawn": "已撤回"}
WEEKDAYS = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
VOLUNTEER_STATUS = {"pending": "待审核", "approved": "已通过", "rejected": "未通过", "suspended": "已暂停"}
POLICY_KIND = {"government_policy": "政府政策", "charity_project": "慈善项目", "social_org_project": "社会组织项目"}
POLICY_STATUS = {"active": "有效", "retired": "已停用"}
# The earning rules' keys (config/points_rules.json, PUT /admin/points-rules).
POINTS_RULE = {"points_per_hour": "各服务每小时积分", "min_per_service": "每次服务最低积分",
               "urgent_bonus": "紧急需求加分", "first_service_bonus": "首次服务奖励",
               "daily_cap": "每日积分上限", "redemption_expiry_days": "兑换码有效天数"}
QUESTION_TYPE = {"single": "单选", "multi": "多选", "number": "数值", "bool": "是否"}
REWARD_STATUS = {"active": "兑换中", "retired": "已下架"}
DONOR_KIND = {"enterprise": "爱心企业", "unit": "爱心单位", "individual": "爱心人士", "organization": "社会组织"}
ORGANIZATION_KIND = {"social_organization": "社会组织", "community_enterprise": "社区企业",
                     "social_work_agency": "社会工作服务机构", "charity": "慈善组织", "other": "其他"}
# The qualifications 机制二 asks of a provider (server/workflow/referrals.py QUALIFICATIONS).
QUALIFICATION_KIND = {"legal_capacity": "独立法人资格", "staff": "专业人员", "facilities": "场地设施",
                      "finance": "财务制度"}
PROJECT_STATUS = {"proposed": "已申报", "approved": "已立项", "in_progress": "实施中", "acceptance_pending": "待验收",
                  "accepted": "验收通过", "failed": "验收不通过"}
# A project's steps, by the status each moves it to (server/care/projects.py STEPS): what the button says.
PROJECT_STEP = {"approved": "立项", "in_progress": "开始实施", "acceptance_pending": "申请验收", "accepted": "验收通过",
                "failed": "验收不通过"}
# A project's KPIs (server/care/projects.py kpis), as the project ledger heads them.
PROJECT_KPI = {"tasks": "任务数", "tasks_done": "完成任务", "verified_hours": "核定时长(小时)", "on_time_rate": "准时率",
               "median_minutes_to_first_service": "需求到首次服务中位数(分钟)", "average_rating": "平均评分",
               "complaints": "投诉数", "low_ratings": "低评分(≤2分)", "referrals_accepted": "承接转介数"}
# How a service was delivered (models/workflow.py DELIVERY_WAYS): 服务类救助's six channels.
DELIVERY_WAY = {"volunteer": "志愿服务", "purchased": "政府购买服务", "social_org": "社会组织服务",
                "department": "部门联动", "neighbour": "邻里互助", "charity": "慈善帮扶"}
# Payments to a provider (拨付, models/places.py PAYMENT_KINDS).
PAYMENT_KIND = {"advance": "预拨", "final": "尾款"}
# Complaints (models/complaints.py COMPLAINT_STATES, COMPLAINT_SUBJECTS).
COMPLAINT_STATUS = {"open": "待答复", "answered": "已答复", "accepted": "已解决", "escalated": "已上报区县"}
COMPLAINT_SUBJECT = {"service": "服务", "task": "任务", "volunteer": "志愿者", "station": "驿站"}
# Why a household's assistance ended (server/lifecycle/exits.py REASONS).
EXIT_REASON = {"moved_away": "迁出本辖区", "deceased": "去世", "not_eligible": "不再符合救助条件",
               "own_request": "本人申请退出", "other": "其他"}
# Deadlines watched by the jobs (server/care/deadlines.py), and how far each has gone.
DEADLINE_KIND = {"need_accept": "需求受理超时", "record_confirm": "服务记录确认超时",
                 "policy_expiry": "政策即将到期", "qualification_expiry": "机构资质即将到期",
                 "department_answer": "部门联动超时未反馈"}
DEADLINE_STAGE = {"remind": "已提醒", "escalate": "已上报区县"}

# The audit trail (models/audit.py): what was done, to what, and which personal fields it read.
AUDIT_ACTION = {
    "resident.read_unmasked": "查看居民完整信息", "resident.worksheet_unmasked": "下载含完整信息的入户调查表",
    "assessment.read_notes": "查看走访记录", "ledger.export_unmasked": "导出含完整个人信息的台账",
    "resident.create": "登记居民档案", "resident.create_on_behalf": "代为登记居民档案",
    "resident.update_on_behalf": "代为修改居民档案", "resident.categories_checked": "核实救助类别",
    "resident.import": "导入居民台账", "resident.import_update": "导入时更新居民档案",
    "resident.exit": "办理退出救助", "resident.reinstate": "恢复救助",
    "role.grant": "授予角色", "role.revoke": "撤销角色", "volunteer.approve": "通过志愿者申请",
    "volunteer.reject": "驳回志愿者申请", "identity_case.open": "身份号码争议立案", "identity_case.settle": "身份号码争议处理",
    "account.close": "注销账号", "claim.confirm_short": "确认时长不足的服务", "complaint.escalate": "投诉上报区县",
    "project.pay": "项目拨付", "audit.read": "查阅审计日志", "audit.export": "导出审计日志",
    "credit.export": "向信用威海提供海贝分数据",
}
AUDIT_SUBJECT = {"resident": "居民", "volunteer": "志愿者", "station": "驿站", "user": "账号", "claim": "服务记录", "need": "需求",
                 "complaint": "投诉", "project": "项目", "assessment": "入户评估", "identity_case": "身份争议",
                 "audit": "审计日志", "import": "台账导入", "credit_batch": "海贝分批次"}
PERSONAL_FIELD = {"name": "姓名", "id_number": "身份证号", "phone": "电话", "address": "住址", "lat": "位置", "lng": "位置",
                  "health_notes": "健康状况", "guardian_name": "监护人姓名", "guardian_phone": "监护人电话",
                  "visit_notes": "走访记录", "complaint_text": "投诉内容", "complaint_answer": "答复内容",
                  "categories": "救助类别", "declared_categories": "申报类别"}


_BY_NAME = {"need_status": NEED_STATUS, "task_status": TASK_STATUS, "claim_status": CLAIM_STATUS,
            "urgency": URGENCY, "need_source": NEED_SOURCE, "role": ROLE, "subject": SUBJECT,
            "volunteer_status": VOLUNTEER_STATUS, "points_kind": POINTS_KIND, "redemption_status": REDEMPTION_STATUS,
            "referral_status": REFERRAL_STATUS, "pairing_status": PAIRING_STATUS,
            "department_referral_status": DEPARTMENT_REFERRAL_STATUS,
            "policy_kind": POLICY_KIND, "policy_status": POLICY_STATUS, "points_rule": POINTS_RULE,
            "question_type": QUESTION_TYPE,
            "reward_status": REWARD_STATUS, "donor_kind": DONOR_KIND, "organization_kind": ORGANIZATION_KIND,
            "qualification_kind": QUALIFICATION_KIND, "project_status": PROJECT_STATUS, "project_step": PROJECT_STEP,
            "project_kpi": PROJECT_KPI, "payment_kind": PAYMENT_KIND, "delivery_way": DELIVERY_WAY, "complaint_status": COMPLAINT_STATUS,
            "complaint_subject": COMPLAINT_SUBJECT, "exit_reason": EXIT_REASON, "deadline_kind": DEADLINE_KIND,
            "deadline_stage": DEADLINE_STAGE, "audit_action": AUDIT_ACTION, "audit_subject": AUDIT_SUBJECT}


def fields_text(names: list[str] | None) -> str:
    """Personal fields as a person reads the list: labels, each once, in order."""
    out: list[str] = []
    for name in names or []:
        text = PERSONAL_FIELD.get(name)
        if text and text not in out:
            out.append(text)
    return "、".join(out)


# What the ledger writes as a points entry's reason, and how a person reads it.
_MACHINE_REASONS = {"netting earlier reversal": "抵扣此前的冲正", "cancelled": "兑换已取消,积分退回",
                    "expired unclaimed": "逾期未领取,积分退回"}
_TASK_REASON = re.compile(r"^task (\d+)$")


def points_reason(reason: str | None, kind: str | None = None) -> str:
    """A points entry's reason as a person reads it: the ledger's own notes in words (``task 8``:
    the service of task 8), what a person wrote as written."""
    if not reason:
        return POINTS_KIND.get(kind or "", "")
    task = _TASK_REASON.match(reason)
    if task:
        return f"完成任务 {task.group(1)} 的服务"
    return _MACHINE_REASONS.get(reason, reason)


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
