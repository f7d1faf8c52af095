"""Tortoise models, one module per aggregate, re-exported here for ``Tortoise.init(models=["models"])``."""

from models.assessment import Assessment, Policy, PolicyReferral, PolicyRevision, QuestionnaireVersion
from models.audit import AuditLog
from models.catalogue import DistrictService, Service, ServiceCategory
from models.complaints import Complaint
from models.credit import CreditConsent, HoursCertificate
from models.deadlines import DeadlineNotice
from models.linkage import Department, DepartmentReferral, NeighbourTie
from models.notifications import CallbackEvent, ContentFlag, Notification, OutboxMessage, SubscriptionQuota
from models.places import District, Organization, Project, ProjectPayment, ProjectStep, Station
from models.points import (
    CreditBatch, CreditIncrement, IdempotencyRecord, PointsAccount, PointsEntry, PointsRules, Redemption, Reward,
)
from models.profiles import IdentityCase, ResidentProfile, VolunteerProfile
from models.users import ROLES, User, UserRole, WechatSession
from models.workflow import CLAIM_ACTIVE, CLAIM_ENDED, NEED_UNDER_WAY, Need, OrgReferral, Pairing, Task, TaskClaim, Upload, WorkflowEvent

__all__ = [
    "Complaint",
    "DeadlineNotice",
    "Department",
    "DepartmentReferral",
    "NeighbourTie",
    "CLAIM_ACTIVE",
    "CLAIM_ENDED",
    "NEED_UNDER_WAY",
    "Project",
    "ProjectPayment",
    "ProjectStep",
    "OrgReferral",
    "Pairing",
    "Policy",
    "PolicyReferral",
    "PolicyRevision",
    "Assessment",
    "QuestionnaireVersion",
    "CallbackEvent",
    "ContentFlag",
    "Notification",
    "OutboxMessage",
    "SubscriptionQuota",
    "IdentityCase",
    "CreditBatch",
    "CreditConsent",
    "HoursCertificate",
    "CreditIncrement",
    "IdempotencyRecord",
    "PointsAccount",
    "PointsEntry",
    "PointsRules",
    "Redemption",
    "Reward",
    "ROLES",
    "AuditLog",
    "District",
    "Need",
    "Organization",
    "ResidentProfile",
    "DistrictService",
    "Service",
    "ServiceCategory",
    "Station",
    "Task",
    "TaskClaim",
    "Upload",
    "User",
    "UserRole",
    "VolunteerProfile",
    "WechatSession",
    "WorkflowEvent",
]
