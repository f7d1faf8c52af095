"""Every code a vocabulary can hold has its Chinese label (server/labels.py), checked against the
tuples that define the codes."""

import re

import pytest

from models.complaints import COMPLAINT_STATES, COMPLAINT_SUBJECTS
from models.deadlines import DEADLINE_KINDS, DEADLINE_STAGES
from models.linkage import DEPARTMENT_REFERRAL_STATES
from models.points import ENTRY_KINDS
from models.users import ROLES
from models.workflow import CLAIM_STATES, NEED_STATES, TASK_STATES
from server import labels
from server.care import projects
from server.workflow import needs

VOCABULARIES = [
    ("need_status", NEED_STATES), ("task_status", TASK_STATES), ("claim_status", CLAIM_STATES),
    ("points_kind", ENTRY_KINDS), ("role", ROLES), ("need_source", needs.SOURCES),
    ("complaint_status", COMPLAINT_STATES), ("complaint_subject", COMPLAINT_SUBJECTS),
    ("deadline_kind", DEADLINE_KINDS), ("deadline_stage", DEADLINE_STAGES),
    ("project_status", tuple(projects.STATUS_NAMES)), ("urgency", ("normal", "urgent")),
    ("department_referral_status", DEPARTMENT_REFERRAL_STATES),
]


@pytest.mark.parametrize(("vocabulary", "codes"), VOCABULARIES, ids=[v for v, _ in VOCABULARIES])
def test_every_code_has_its_chinese_label(vocabulary, codes):
    for code in codes:
        text = labels.label(vocabulary, code)
        assert text != code and re.search(r"[\u4e00-\u9fff]", text), (vocabulary, code, text)


def test_points_reasons_read_as_words():
    assert labels.points_reason("task 12", "service_award") == "完成任务 12 的服务"
    assert labels.points_reason("expired unclaimed", "redemption_refund") == "逾期未领取,积分退回"
    assert labels.points_reason(None, "bonus") == labels.POINTS_KIND["bonus"]
    assert labels.points_reason("春节慰问", "adjustment") == "春节慰问"  # what a person wrote, as written
