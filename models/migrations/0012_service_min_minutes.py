from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The minimums config/service_catalogue.json shipped when this migration was written, frozen here:
# a migration is history, and a later edit of the file must not change what this one did.
SHIPPED_MIN_MINUTES = {
    "LIVING_MEAL": 15, "LIVING_SHOP": 10, "LIVING_ESCORT": 30, "LIVING_REPAIR": 15,
    "CLEAN_HOME": 30, "CLEAN_LAUNDRY": 15, "CLEAN_BATH": 30, "CLEAN_HAIRCUT": 15,
    "HEALTH_MEDICAL_ESCORT": 45, "HEALTH_CHECK": 10, "HEALTH_CARE": 30, "HEALTH_REHAB": 30,
    "SUPPORT_TUTOR": 30, "SUPPORT_PSYCH": 30, "SUPPORT_COMPANY": 20, "SUPPORT_SKILL": 30,
    "LINK_POLICY": 15, "LINK_CHARITY": 15, "LINK_JOB": 15, "LINK_LEGAL": 15,
}


async def backfill_minimums(apps, schema_editor) -> None:
    """Existing services get the shipped minimum (the catalogue sync never updates a row that is
    there); services administrators added keep the column's default. Either way a minimum is never
    above the service's default duration, which an administrator may have shortened."""
    client = schema_editor.client
    for code, minimum in SHIPPED_MIN_MINUTES.items():
        # Constants of this file, not input: safe to inline on every dialect.
        await client.execute_script(f"UPDATE services SET min_minutes = {int(minimum)} WHERE code = '{code}'")
    await client.execute_script("UPDATE services SET min_minutes = default_minutes WHERE min_minutes > default_minutes")


class Migration(migrations.Migration):
    dependencies = [('models', '0011_declared_categories')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Service',
            name='min_minutes',
            field=fields.IntField(default=15, db_default=15),
        ),
        ops.RunPython(backfill_minimums, ops.RunPython.noop),
    ]
