from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Assessment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.ForeignKeyField('models.ResidentProfile', source_field='resident_id', db_constraint=True, to_field='id', related_name='assessments', on_delete=OnDelete.RESTRICT)),
                ('station_id', fields.IntField()),
                ('version', fields.IntField()),
                ('answers', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('scores', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('overall', fields.FloatField()),
                ('level', fields.CharField(max_length=10)),
                ('visited_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('visit_notes_enc', fields.TextField(null=True, unique=False)),
                ('assessor_id', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'assessments', 'app': 'models', 'indexes': [Index(fields=['station_id', 'resident_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One home visit: the answers under one questionnaire version and the scores they gave.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QuestionnaireVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.IntField(unique=True)),
                ('spec', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'questionnaire_versions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
