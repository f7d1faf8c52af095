import math

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# The grid as it was when this migration was written, frozen here: a migration is history, and a
# later change to the app's grid (server/geo.py) must not change what this one did.
FUZZ_GRID_DEG = 0.0045
CELL_ROW = 1_000_000


def cell_of(lat: float, lng: float) -> int:
    row = math.floor(lat / FUZZ_GRID_DEG) + 20_000
    col = math.floor(lng / FUZZ_GRID_DEG) + 40_000
    return row * CELL_ROW + col


async def backfill_cells(apps, schema_editor) -> None:
    """Existing tasks with a fuzzed position get their grid cell."""
    client = schema_editor.client
    rows = await client.execute_query_dict(
        "SELECT id, approx_lat, approx_lng FROM tasks WHERE approx_lat IS NOT NULL AND approx_lng IS NOT NULL")
    for row in rows:
        # Integers computed here, not input: safe to inline on every dialect.
        await client.execute_script(
            f"UPDATE tasks SET cell = {int(cell_of(row['approx_lat'], row['approx_lng']))} WHERE id = {int(row['id'])}")


class Migration(migrations.Migration):
    dependencies = [('models', '0007_pairings')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Task',
            name='cell',
            field=fields.BigIntField(null=True),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['status', 'cell']),
        ),
        ops.RunPython(backfill_cells, ops.RunPython.noop),
    ]
