from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0018_household_exit')]

    initial = False

    operations = [
        ops.AddField(model_name='Need', name='follow_up_note', field=fields.CharField(null=True, max_length=200)),
        ops.AddField(model_name='Need', name='followed_up_at', field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ops.AddField(model_name='Need', name='followed_up_by', field=fields.IntField(null=True)),
    ]
