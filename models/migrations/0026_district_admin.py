from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0025_task_delivery_way')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DistrictService',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('district', fields.ForeignKeyField('models.District', source_field='district_id', db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.CASCADE)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='code', related_name='district_standards', on_delete=OnDelete.RESTRICT)),
                ('offered', fields.BooleanField(default=True)),
                ('description', fields.CharField(null=True, max_length=500)),
                ('points_per_hour', fields.IntField(null=True)),
                ('updated_by', fields.IntField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'district_services', 'app': 'models', 'unique_together': (('district', 'service'),), 'pk_attr': 'id', 'table_description': "A district's own standard for one service of the city catalogue (任务五: 各区市结合实际制定本辖区"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Project',
            name='district',
            field=fields.ForeignKeyField('models.District', source_field='district_id', null=True, db_constraint=True, to_field='id', related_name='projects', on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterModelOptions(
            name='UserRole',
            options={'table': 'user_roles', 'app': 'models', 'unique_together': (('user', 'role'),), 'pk_attr': 'id', 'table_description': 'A role a user holds. A worker binds to a station, org_staff to an organisation, a district'},
        ),
        ops.AddField(
            model_name='UserRole',
            name='district',
            field=fields.ForeignKeyField('models.District', source_field='district_id', null=True, db_constraint=True, to_field='id', related_name='administrators', on_delete=OnDelete.RESTRICT),
        ),
    ]
