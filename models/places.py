"""Places: districts (区市), referral stations (转介驿站, 任务二) and provider organisations."""

from tortoise import fields
from tortoise.models import Model


class District(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=12, unique=True)
    name = fields.CharField(max_length=50)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "districts"


class Station(Model):
    """One per town/street (镇/街道), run through its federation of social organisations (任务二)."""

    id = fields.IntField(primary_key=True)
    district = fields.ForeignKeyField("models.District", related_name="stations", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=80)
    town = fields.CharField(max_length=50)
    address = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, null=True)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "stations"
        unique_together = (("district", "name"),)


class Organization(Model):
    """A provider (承接主体): social organisation, community enterprise, social-work agency (机制二)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    kind = fields.CharField(max_length=30)
    district = fields.ForeignKeyField("models.District", related_name="organizations", null=True, on_delete=fields.SET_NULL)
    # What it offers and where (service codes, station ids), and the qualifications 机制二 requires
    # of a provider: [{"kind": legal_capacity|staff|facilities|finance, "document": str, "expires_at": iso}].
    services = fields.JSONField(default=list)
    station_ids = fields.JSONField(default=list)
    qualifications = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "organizations"


class Project(Model):
    """A government-purchased service project (政府购买服务, 保障四) run by a provider organisation."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    organization = fields.ForeignKeyField("models.Organization", related_name="projects", on_delete=fields.RESTRICT)
    budget_fen = fields.BigIntField()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    services = fields.JSONField(default=list)
    station_ids = fields.JSONField(default=list)
    status = fields.CharField(max_length=20, default="proposed")
    # The district that buys it (保障四: districts buy services), or NULL for a city project. Its
    # stations all lie in that district; its administrators keep it.
    district = fields.ForeignKeyField("models.District", related_name="projects", null=True, on_delete=fields.RESTRICT)
    # The KPI targets set at 立项 ({kpi: value}; server/care/projects.py TARGETS), compared at 验收.
    targets = fields.JSONField(default=dict)
    created_by = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "projects"


class ProjectPayment(Model):
    """Money paid to the provider against the budget (拨付): advances while the project runs, the
    final payment only after it was accepted (验收通过)."""

    id = fields.IntField(primary_key=True)
    project = fields.ForeignKeyField("models.Project", related_name="payments", on_delete=fields.RESTRICT)
    kind = fields.CharField(max_length=10)  # PAYMENT_KINDS
    amount_fen = fields.BigIntField()
    note = fields.CharField(max_length=200, default="")
    # The acceptance step a final payment rests on.
    step_id = fields.IntField(null=True)
    actor_id = fields.IntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "project_payments"


PAYMENT_KINDS = ("advance", "final")


class ProjectStep(Model):
    """One lifecycle step (立项, 实施, 验收 …) with who, the note, documents and the KPIs at that moment."""

    id = fields.IntField(primary_key=True)
    project = fields.ForeignKeyField("models.Project", related_name="steps", on_delete=fields.RESTRICT)
    from_status = fields.CharField(max_length=20, null=True)
    to_status = fields.CharField(max_length=20)
    actor_id = fields.IntField()
    note = fields.CharField(max_length=500, default="")
    documents = fields.JSONField(default=list)
    kpis = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "project_steps"
