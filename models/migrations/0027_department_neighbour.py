from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0026_district_admin')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Department',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('district', fields.ForeignKeyField('models.District', source_field='district_id', null=True, db_constraint=True, to_field='id', related_name='departments', on_delete=OnDelete.RESTRICT)),
                ('contact_person', fields.CharField(max_length=40)),
                ('contact_phone', fields.CharField(max_length=20)),
                ('sla_hours', fields.IntField()),
                ('services', fields.JSONField(default=list)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'departments', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A government department that takes on services (部门联动), kept by administrators.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DepartmentReferral',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='department_referrals', on_delete=OnDelete.RESTRICT)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.RESTRICT)),
                ('station_id', fields.IntField()),
                ('status', fields.CharField(default='pending', max_length=10)),
                ('referred_by', fields.IntField()),
                ('note', fields.CharField(default='', max_length=200)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answered_by', fields.IntField(null=True)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('served_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answer_note', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'department_referrals', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at']), Index(fields=['station_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A task referred to a department instead of volunteers (机制四: 部门协同配合).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NeighbourTie',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.ForeignKeyField('models.ResidentProfile', source_field='resident_id', db_constraint=True, to_field='id', related_name='neighbour_ties', on_delete=OnDelete.RESTRICT)),
                ('volunteer', fields.ForeignKeyField('models.VolunteerProfile', source_field='volunteer_id', db_constraint=True, to_field='id', related_name='neighbour_ties', on_delete=OnDelete.RESTRICT)),
                ('station', fields.ForeignKeyField('models.Station', source_field='station_id', db_constraint=True, to_field='id', related_name='neighbour_ties', on_delete=OnDelete.RESTRICT)),
                ('note', fields.CharField(default='', max_length=100)),
                ('active_key', fields.CharField(null=True, unique=True, max_length=32)),
                ('created_by', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_by', fields.IntField(null=True)),
            ],
            options={'table': 'neighbour_ties', 'app': 'models', 'indexes': [Index(fields=['resident_id', 'ended_at'])], 'pk_attr': 'id', 'table_description': "邻里互助: an approved volunteer registered by the station as one household's neighbour helper."},
            bases=['Model'],
        ),
    ]
