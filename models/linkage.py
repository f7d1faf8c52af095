"""Two more ways of delivering a service (任务五: 部门联动救助, 邻里互助帮扶): a task referred to a
government department, and a household's neighbours registered as its helpers.

A department (部门) has no account here: the station calls its contact, and a worker records what
the department answered. A neighbour helper is an approved volunteer the station registered for
one household; the station may then hand that household's tasks to them.
"""

from tortoise import fields
from tortoise.models import Model

# A department referral: waiting for the department, served by it, handed back by it, or taken back
# by the station (its need was cancelled).
DEPARTMENT_REFERRAL_STATES = ("pending", "served", "returned", "withdrawn")


class Department(Model):
    """A government department that takes on services (部门联动), kept by administrators."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    # The district it serves; NULL: the whole city (a municipal department).
    district = fields.ForeignKeyField("models.District", related_name="departments", null=True,
                                      on_delete=fields.RESTRICT)
    contact_person = fields.CharField(max_length=40)
    # Its office number, written as stations' numbers are (0631-5200000, 400-123-4567, 138-0631-0000).
    contact_phone = fields.CharField(max_length=20)
    # How long it has to answer a referral (its commitment); past it the station is reminded.
    sla_hours = fields.IntField()
    services = fields.JSONField(default=list)  # catalogue codes it handles
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "departments"


class DepartmentReferral(Model):
    """A task referred to a department instead of volunteers (机制四: 部门协同配合)."""

    id = fields.IntField(primary_key=True)
    task = fields.ForeignKeyField("models.Task", related_name="department_referrals", on_delete=fields.RESTRICT)
    department = fields.ForeignKeyField("models.Department", related_name="referrals", on_delete=fields.RESTRICT)
    station_id = fields.IntField()
    status = fields.CharField(max_length=10, default="pending")  # DEPARTMENT_REFERRAL_STATES
    referred_by = fields.IntField()
    note = fields.CharField(max_length=200, default="")
    due_at = fields.DatetimeField()
    # The department's answer as the worker recorded it: when the service was given (served), and
    # what was said (served or returned).
    answered_by = fields.IntField(null=True)
    answered_at = fields.DatetimeField(null=True)
    served_at = fields.DatetimeField(null=True)
    answer_note = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "department_referrals"
        # (status, due_at): the deadline job's referrals past their time; (station_id, id): a station's list.
        indexes = (("status", "due_at"), ("station_id", "id"))


class NeighbourTie(Model):
    """邻里互助: an approved volunteer registered by the station as one household's neighbour helper."""

    id = fields.IntField(primary_key=True)
    resident = fields.ForeignKeyField("models.ResidentProfile", related_name="neighbour_ties",
                                      on_delete=fields.RESTRICT)
    volunteer = fields.ForeignKeyField("models.VolunteerProfile", related_name="neighbour_ties",
                                       on_delete=fields.RESTRICT)
    station = fields.ForeignKeyField("models.Station", related_name="neighbour_ties", on_delete=fields.RESTRICT)
    note = fields.CharField(max_length=100, default="")  # how they are related: 同楼邻居, 老同事…
    # "<resident>:<volunteer>" while the tie lasts, NULL after: one active tie per pair, even under
    # concurrent requests.
    active_key = fields.CharField(max_length=32, null=True, unique=True)
    created_by = fields.IntField()
    created_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.IntField(null=True)

    class Meta:
        table = "neighbour_ties"
        indexes = (("resident_id", "ended_at"),)
