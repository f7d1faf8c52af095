"""The service catalogue (任务五): five categories, about twenty services, editable by admins.

Codes are the stable keys: needs, tasks and volunteer skills refer to them. A retired service
stays readable on old records and simply cannot be chosen for new ones.
"""

from tortoise import fields
from tortoise.models import Model


class ServiceCategory(Model):
    code = fields.CharField(max_length=20, primary_key=True)
    name = fields.CharField(max_length=40)
    sort = fields.IntField(default=0)

    class Meta:
        table = "service_categories"


class Service(Model):
    code = fields.CharField(max_length=40, primary_key=True)
    category = fields.ForeignKeyField("models.ServiceCategory", related_name="services", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=40)
    description = fields.CharField(max_length=500, default="")
    default_minutes = fields.IntField(default=60)
    # The shortest service a worker confirms without giving a reason (0: no minimum). The shipped
    # values are in config/service_catalogue.json; the policy leaves such standards to districts.
    min_minutes = fields.IntField(default=15, db_default=15)
    points_per_hour = fields.IntField(default=10)
    # Only volunteers listing this code among their skills may see and claim its tasks.
    requires_skill = fields.BooleanField(default=False)
    # Needs a professional provider (social-work agency, medical staff), not a lay volunteer.
    professional = fields.BooleanField(default=False)
    # Which check-in evidence is required: plate_or_location | plate | location | plate_and_location.
    checkin_policy = fields.CharField(max_length=24, default="plate_or_location")
    status = fields.CharField(max_length=10, default="active")
    catalogue_version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "services"


class DistrictService(Model):
    """A district's own standard for one service of the city catalogue (任务五: 各区市结合实际制定本辖区
    服务标准): whether it offers the service at all, its standards text and its points per hour.
    A field left NULL keeps the city's value; no row at all is the city's service as it is."""

    id = fields.IntField(primary_key=True)
    district = fields.ForeignKeyField("models.District", related_name="services", on_delete=fields.CASCADE)
    service = fields.ForeignKeyField("models.Service", related_name="district_standards", on_delete=fields.RESTRICT)
    offered = fields.BooleanField(default=True)
    description = fields.CharField(max_length=500, null=True)
    points_per_hour = fields.IntField(null=True)
    updated_by = fields.IntField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "district_services"
        unique_together = (("district", "service"),)
