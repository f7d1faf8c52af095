from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_referrals_projects')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Pairing',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='pairings', on_delete=OnDelete.RESTRICT)),
                ('resident_id', fields.IntField()),
                ('station_id', fields.IntField(db_index=True)),
                ('service_id', fields.CharField(max_length=40)),
                ('volunteer', fields.ForeignKeyField('models.VolunteerProfile', source_field='volunteer_id', null=True, db_constraint=True, to_field='id', related_name='pairings', on_delete=OnDelete.RESTRICT)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', null=True, db_constraint=True, to_field='id', related_name='pairings', on_delete=OnDelete.RESTRICT)),
                ('schedule', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField(null=True)),
                ('title', fields.CharField(max_length=80)),
                ('notes_for_volunteer', fields.CharField(default='', max_length=500)),
                ('points', fields.IntField(null=True)),
                ('status', fields.CharField(default='active', max_length=8)),
                ('active_key', fields.CharField(null=True, unique=True, max_length=16)),
                ('created_by', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_by', fields.IntField(null=True)),
                ('end_reason', fields.CharField(null=True, max_length=200)),
            ],
            options={'table': 'pairings', 'app': 'models', 'pk_attr': 'id', 'table_description': '结对帮扶: a volunteer or an organisation paired with a household for recurring service.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Task',
            name='occurrence_key',
            field=fields.CharField(null=True, unique=True, max_length=32),
        ),
        ops.AddField(
            model_name='Task',
            name='pairing_id',
            field=fields.IntField(null=True, db_index=True),
        ),
    ]
