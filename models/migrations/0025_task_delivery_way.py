from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0024_credit_consent')]

    initial = False

    operations = [
        ops.AddField(model_name='Task', name='delivery_way', field=fields.CharField(default='volunteer', max_length=12)),
    ]
