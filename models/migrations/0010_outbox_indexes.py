from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_browse_covering_index')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['status', 'next_attempt_at']),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['status', 'lease_until']),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['user_id']),
        ),
    ]
