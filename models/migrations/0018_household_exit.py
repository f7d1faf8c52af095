from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0017_reassessment_due')]

    initial = False

    operations = [
        ops.AddField(model_name='ResidentProfile', name='exit_reason', field=fields.CharField(null=True, max_length=16)),
        ops.AddField(model_name='ResidentProfile', name='exit_note', field=fields.CharField(null=True, max_length=200)),
        ops.AddField(model_name='ResidentProfile', name='exited_at', field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ops.AddField(model_name='ResidentProfile', name='exited_by', field=fields.IntField(null=True)),
    ]
