from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# The intervals config/reassessment.json shipped when this migration was written, frozen here: a
# migration is history, and a later edit of the file must not change what this one did.
SHIPPED_MONTHS = {"特别困难": 3, "较困难": 6, "一般": 12}


async def backfill_due(apps, schema_editor) -> None:
    """Every visit already recorded gets its due date: the visit plus its level's months (a month
    as 30 days here, as the app's own arithmetic is calendar months: close enough for history)."""
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    for level, months in SHIPPED_MONTHS.items():
        days = int(months) * 30
        # Constants of this file, not input: safe to inline on every dialect.
        shift = f"datetime(visited_at, '+{days} days')" if sqlite else f"visited_at + INTERVAL {days} DAY"
        await client.execute_script(f"UPDATE assessments SET due_at = {shift} WHERE level = '{level}'")


class Migration(migrations.Migration):
    dependencies = [('models', '0016_console_indexes')]

    initial = False

    operations = [
        ops.AddField(model_name='Assessment', name='due_at', field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ops.AddField(model_name='Assessment', name='reminded_at', field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ops.AddIndex(model_name='Assessment', index=Index(fields=['due_at', 'reminded_at'])),
        ops.RunPython(backfill_due, ops.RunPython.noop),
    ]
