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
            name='Policy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=100)),
                ('issuer', fields.CharField(max_length=100)),
                ('kind', fields.CharField(max_length=24)),
                ('summary', fields.CharField(default='', max_length=1000)),
                ('benefits', fields.CharField(default='', max_length=1000)),
                ('eligibility', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('valid_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('contact', fields.CharField(default='', max_length=100)),
                ('source_url', fields.CharField(default='', max_length=300)),
                ('version', fields.IntField(default=1)),
                ('status', fields.CharField(default='active', max_length=10)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'policies', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A government assistance policy or charity/social-organisation project (任务三).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PolicyReferral',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.RESTRICT)),
                ('resident', fields.ForeignKeyField('models.ResidentProfile', source_field='resident_id', db_constraint=True, to_field='id', related_name='policy_referrals', on_delete=OnDelete.RESTRICT)),
                ('policy_version', fields.IntField()),
                ('outcome', fields.CharField(max_length=14)),
                ('note', fields.CharField(default='', max_length=300)),
                ('worker_id', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'policy_referrals', 'app': 'models', 'pk_attr': 'id', 'table_description': "A worker's referral of a household to a policy, and what came of it."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PolicyRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.RESTRICT)),
                ('version', fields.IntField()),
                ('snapshot', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('edited_by', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'policy_revisions', 'app': 'models', 'unique_together': (('policy', 'version'),), 'pk_attr': 'id', 'table_description': 'Every saved version of a policy, as it was.'},
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
