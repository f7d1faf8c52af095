from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0022_project_targets_and_payments')]

    initial = False

    operations = [
        ops.AddField(model_name='VolunteerProfile', name='display_name', field=fields.CharField(null=True, max_length=12)),
        ops.AddField(model_name='Reward', name='pickup_place', field=fields.CharField(null=True, max_length=200)),
        ops.AddField(model_name='Reward', name='image_url', field=fields.CharField(null=True, max_length=500)),
        # 0022 created the table without the description its model's docstring gives it; without
        # this, the next generated migration would carry it.
        ops.AlterModelOptions(
            name='ProjectPayment',
            options={'table': 'project_payments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Money paid to the provider against the budget (拨付): advances while the project runs, the'},
        ),
    ]
