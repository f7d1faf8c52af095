from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_task_cells')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Task',
            name=None,
            fields=['status', 'cell'],
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['status', 'cell', 'scheduled_end', 'approx_lat', 'approx_lng', 'scheduled_start', 'service_id', 'need_id']),
        ),
    ]
